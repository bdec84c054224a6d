"""Resources shared by the assets: where the registry and the results live."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from llmeval_assets.paths import lake_dir, results_db_path
from llmeval_assets.registry import Registry, load_registry
from llmeval_assets.storage.lake import ResultsLake


class ResultsStore(dg.ConfigurableResource):
    """The registry directory, the Parquet lake runs write, and the DuckDB file `results_db` builds."""

    home: str | None = None  # None: $LLMEVAL_HOME or .llmeval, read when used
    registry_dir: str | None = None  # None: ./registry or $LLMEVAL_REGISTRY
    dataset_source: str | None = None  # "offline" | "hf"; None: $LLMEVAL_DATASET_SOURCE or offline

    def registry(self) -> Registry:
        return load_registry(self.registry_dir)

    @property
    def lake(self) -> ResultsLake:
        return ResultsLake(lake_dir(Path(self.home) if self.home else None))

    @property
    def duckdb_path(self) -> Path:
        return results_db_path(Path(self.home) if self.home else None)
