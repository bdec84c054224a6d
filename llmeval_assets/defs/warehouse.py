"""The DuckDB results tables, rebuilt from the lake after evaluation runs. One writer at a time (pool
`duckdb_writer`, shared with dbt), because DuckDB lets only one process open the file for writing."""


import dagster as dg

from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.storage.lake import TABLES
from llmeval_assets.storage.warehouse import build_results_db

RESULT_TABLES = (*TABLES, "models", "model_categories", "dataset_categories")


def build_results_db_asset(score_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="results_db",
        specs=[dg.AssetSpec(["evals", table], deps=score_keys if table in TABLES else [], group_name="results",
                            kinds={"duckdb"}, description=f"evals.{table} in .llmeval/results.duckdb")
               for table in RESULT_TABLES],
        pool="duckdb_writer")
    def results_db(context: dg.AssetExecutionContext, store: ResultsStore):
        counts = build_results_db(store.lake, store.registry(), store.duckdb_path)
        context.log.info(f"rebuilt {store.duckdb_path}: {counts}")
        for table in RESULT_TABLES:
            yield dg.MaterializeResult(asset_key=["evals", table], metadata={"rows": counts[table],
                                       "path": dg.MetadataValue.path(str(store.duckdb_path))})

    return results_db
