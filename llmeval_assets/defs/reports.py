"""The dbt reports (dbt_reports/) as Dagster assets.

Every source table carries the key of the `results_db` asset that writes it (["evals", <table>], see
dbt_reports/models/staging/__sources.yml), so lineage reads results -> staging views -> report marts. The dbt
assets share pool `duckdb_writer` with `results_db`: DuckDB admits one writing process and dbt-duckdb fails at
once on a locked file instead of waiting."""

# No `from __future__ import annotations`: Dagster checks the `context` annotation of the decorated function at
# definition time and rejects it as a string.
from pathlib import Path

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from llmeval_assets.defs.dbt_project import (
    DBT_EXECUTABLE,
    DBT_PROJECT_DIR,
    dbt_project,
    duckdb_path_env,
    prepare_manifest,
)
from llmeval_assets.defs.resources import ResultsStore


@dbt_assets(manifest=prepare_manifest(), project=dbt_project, pool="duckdb_writer")
def dbt_reports_assets(context: AssetExecutionContext, dbt: DbtCliResource, store: ResultsStore):
    with duckdb_path_env(store.duckdb_path):
        yield from dbt.cli(["build"], context=context).stream()


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def run_dbt_build(duckdb_path: Path, target_path: Path | None = None) -> list[tuple[str, str]]:
    """`dbt build` on `duckdb_path` without Dagster; returns (node name, status) for every model, unit test and
    data test, e.g. ("leaderboard", "success"), ("accepted_range_leaderboard_value__...", "fail").
    Failed nodes are reported, not raised; raises RuntimeError only when dbt cannot run at all (broken
    project, unreadable or locked DuckDB file). `target_path` (default dbt_reports/target) also gets the logs."""
    # dbt's imports are slow; only build calls need them
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    args = ["build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if target_path is not None:
        args += ["--target-path", str(target_path), "--log-path", str(target_path)]
    with duckdb_path_env(duckdb_path):
        try:
            outcome = dbtRunner().invoke(args)
        finally:
            # dbt-duckdb keeps its connection for the life of the process, which locks every other reader and
            # writer (and this process's read-only connections) out of the file.
            DuckDBConnectionManager.close_all_connections()
    if outcome.exception is not None:
        raise RuntimeError(f"dbt build of {DBT_PROJECT_DIR} on {duckdb_path} could not run: {outcome.exception}")
    return [(result.node.name, str(result.status)) for result in outcome.result.results]
