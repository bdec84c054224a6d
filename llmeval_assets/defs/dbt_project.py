"""The dbt project behind the reports (dbt_reports/) and its manifest.

Kept apart from the `@dbt_assets` module: `dagster-dbt project prepare-and-package --file
llmeval_assets/defs/dbt_project.py` must import it before any manifest exists."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from llmeval_assets.paths import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_reports"
DUCKDB_PATH_ENV = "LLMEVAL_DUCKDB"  # read by dbt_reports/profiles.yml
_GENERATED_DIRS = ("target", "logs")
# The `dbt` script installed beside this interpreter: a venv's bin/ is often not on PATH (`.venv/bin/dagster dev`).
_BESIDE_INTERPRETER = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_BESIDE_INTERPRETER) if _BESIDE_INTERPRETER.exists() else "dbt"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


@contextmanager
def duckdb_path_env(duckdb_path: Path | str) -> Iterator[None]:
    """Point dbt (profiles.yml) at `duckdb_path` for the dbt calls made inside the block."""
    previous = os.environ.get(DUCKDB_PATH_ENV)
    os.environ[DUCKDB_PATH_ENV] = str(duckdb_path)
    try:
        yield
    finally:
        if previous is None:
            del os.environ[DUCKDB_PATH_ENV]
        else:
            os.environ[DUCKDB_PATH_ENV] = previous


def prepare_manifest() -> Path:
    """Path of target/manifest.json, parsed offline (`dbt parse`, a few seconds) when it is missing or older than
    a project file, so it is never committed and never stale, also outside `dagster dev` (where dagster-dbt's
    `prepare_if_dev` does nothing, and which it cannot serve anyway: it calls `dbt` from PATH)."""
    manifest = dbt_project.manifest_path
    if not _manifest_is_stale(manifest):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    # Parse aside and rename: two processes loading the definitions at once never read a half-written manifest.
    parse_dir = Path(tempfile.mkdtemp(prefix="parse-", dir=manifest.parent))
    try:
        # Parsing renders profiles.yml but opens no database, so the path only has to be set.
        with duckdb_path_env(os.environ.get(DUCKDB_PATH_ENV, "parse-opens-no-database.duckdb")):
            DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE).cli(
                ["parse", "--quiet"], target_path=parse_dir).wait()
        os.replace(parse_dir / "manifest.json", manifest)
    finally:
        shutil.rmtree(parse_dir, ignore_errors=True)
    return manifest


def _manifest_is_stale(manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built_at = manifest.stat().st_mtime
    return any(
        path.stat().st_mtime > built_at
        for path in DBT_PROJECT_DIR.rglob("*")
        if path.is_file() and path.relative_to(DBT_PROJECT_DIR).parts[0] not in _GENERATED_DIRS
    )
