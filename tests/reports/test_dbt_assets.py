"""The dbt reports as Dagster assets: downstream of the `results_db` keys ["evals", <table>], and materialized by
`dbt build` against the DuckDB file of the run's ResultsStore. Stub assets with the `results_db` keys stand in
for it and write the fixture tables (conftest.py)."""

from __future__ import annotations

import dagster as dg
import duckdb
import pyarrow as pa

from llmeval_assets.defs.reports import dbt_reports_assets, dbt_resource
from llmeval_assets.defs.resources import ResultsStore
from tests.reports.conftest import fixture_tables, write_table

LEADERBOARD = dg.AssetKey(["reports", "leaderboard"])


def results_table_stub(name: str, table: pa.Table) -> dg.AssetsDefinition:
    @dg.asset(key=["evals", name])
    def _stub(store: ResultsStore) -> None:
        write_table(store.duckdb_path, name, table)

    return _stub


def test_dbt_assets_sit_downstream_of_the_results_tables():
    deps = dbt_reports_assets.asset_deps
    assert dg.AssetKey(["evals", "metrics"]) in deps[dg.AssetKey(["staging", "stg_metrics"])]
    staging_parents = ("stg_metrics", "stg_partitions", "stg_models")
    assert deps[LEADERBOARD] == {dg.AssetKey(["staging", name]) for name in staging_parents}
    assert set(dbt_reports_assets.group_names_by_key.values()) == {"reports"}
    sources = {key for upstream in deps.values() for key in upstream if key.path[0] == "evals"}
    assert sources == {dg.AssetKey(["evals", name]) for name in fixture_tables()}


def test_materializing_the_dbt_assets_builds_the_reports(tmp_path):
    stubs = [results_table_stub(name, table) for name, table in fixture_tables().items()]
    store = ResultsStore(home=str(tmp_path))

    result = dg.materialize([*stubs, dbt_reports_assets], resources={"dbt": dbt_resource(), "store": store})

    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert {LEADERBOARD, dg.AssetKey(["reports", "efficiency"])} <= materialized
    checks = result.get_asset_check_evaluations()  # dbt's data tests, reported as asset checks
    assert checks and all(check.passed for check in checks), [c.check_name for c in checks if not c.passed]
    with duckdb.connect(str(store.duckdb_path), read_only=True) as con:
        # mixtral's mmlu under two profiles: two rows
        assert con.execute("select count(*) from reports.leaderboard").fetchone() == (5,)
