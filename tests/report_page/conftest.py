"""The results DuckDB of tests/reports (hand-made results of two registry models, see its conftest.py) with the dbt
marts built on it, once per session, as the file `results.duckdb` of an LLMEVAL_HOME-like folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmeval_assets.defs.reports import run_dbt_build
from llmeval_assets.paths import results_db_path
from tests.reports.conftest import write_results_duckdb


@pytest.fixture(scope="session")
def marts_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    duckdb_path = write_results_duckdb(results_db_path(home))
    failed = [(name, status) for name, status in run_dbt_build(duckdb_path, target_path=home / "dbt_target")
              if status not in ("success", "pass")]
    assert not failed, f"dbt build of the fixture results failed: {failed}"
    return home
