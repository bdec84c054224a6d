"""The DuckDB results file, rebuilt from the Parquet lake and the registry by a single writer (the `results_db`
asset, pool `duckdb_writer`). Tables are described in docs/results_schema.md; dbt reads them as sources."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from llmeval_assets.benchmarks.base import get_benchmark
from llmeval_assets.registry import Registry
from llmeval_assets.storage.lake import TABLES, ResultsLake

SCHEMA = "evals"


def build_results_db(lake: ResultsLake, registry: Registry, db_path: Path) -> dict[str, int]:
    """Replace every `evals.*` table in one transaction (readers see the old tables or the new ones, never a mix);
    other schemas in the file, such as dbt's reports, are left in place. Returns row counts."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with duckdb.connect(str(db_path)) as con:
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {SCHEMA}")
        lake_tables = {table: lake.table(table) for table in TABLES}
        for name, arrow in results_tables(lake_tables, registry).items():
            con.register("incoming", arrow)
            con.execute(f"create or replace table {SCHEMA}.{name} as select * from incoming")
            con.unregister("incoming")
            counts[name] = arrow.num_rows
        con.execute("commit")
    return counts


def results_tables(lake_tables: dict[str, pa.Table], registry: Registry) -> dict[str, pa.Table]:
    """Every evals.* table from the lake's tables: metrics gain each metric's direction and range, and the
    registry's models and category memberships are added."""
    tables = {**lake_tables, "metrics": _with_metric_ranges(registry, lake_tables["metrics"])}
    for name, rows, columns in registry_tables(registry):
        tables[name] = pa.Table.from_pylist(rows, schema=columns)
    return tables


def _with_metric_ranges(registry: Registry, metrics: pa.Table) -> pa.Table:
    """Each metric's direction and range, from its benchmark's current definition (not stored with results: a
    metric's range is a fact about the metric, and correcting it must not make results stale)."""
    rows = metrics.to_pylist()
    for row in rows:
        benchmark = get_benchmark(registry.datasets[row["dataset"]].benchmark or row["dataset"])
        row.update(benchmark.metric_range(row["metric"]))
    extra = [("higher_is_better", pa.bool_()), ("value_min", pa.float64()), ("value_max", pa.float64())]
    schema = pa.schema(list(metrics.schema) + [pa.field(n, t) for n, t in extra])
    return pa.Table.from_pylist(rows, schema=schema)


def registry_tables(registry: Registry) -> list[tuple[str, list[dict], pa.Schema]]:
    models = [{"model": key, "display_name": m.display_name, "hf_id": m.hf_id, "kind": m.kind.value,
               "params_b": m.params_b, "active_params_b": m.active_params_b or m.params_b, "instruct": m.instruct,
               "tensor_parallel_size": m.tensor_parallel_size} for key, m in registry.models.items()]
    memberships = [{"category": c, "model": m} for c, e in registry.categories.items() for m in e.models]
    datasets = [{"category": c, "dataset": registry.resolve_dataset(d), "is_primary": primary,
                 "is_supported": registry.datasets[registry.resolve_dataset(d)].supported}
                for c, e in registry.categories.items()
                for primary, refs in ((True, e.primary_datasets), (False, e.optional_datasets)) for d in refs]
    return [
        ("models", models, pa.schema([("model", pa.string()), ("display_name", pa.string()), ("hf_id", pa.string()),
                                      ("kind", pa.string()), ("params_b", pa.float64()),
                                      ("active_params_b", pa.float64()), ("instruct", pa.bool_()),
                                      ("tensor_parallel_size", pa.int32())])),
        ("model_categories", memberships, pa.schema([("category", pa.string()), ("model", pa.string())])),
        ("dataset_categories", datasets, pa.schema([("category", pa.string()), ("dataset", pa.string()),
                                                    ("is_primary", pa.bool_()), ("is_supported", pa.bool_())])),
    ]
