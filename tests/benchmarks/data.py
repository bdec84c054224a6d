"""Benchmark items for tests, loaded as the pipeline loads them: from the sources the shipped registry declares
(registry/datasets.yaml, the one place they are written down)."""

from __future__ import annotations

from functools import cache
from typing import Any

from llmeval_assets.benchmarks import Item, get_benchmark
from llmeval_assets.paths import PROJECT_ROOT
from llmeval_assets.registry import Registry, load_registry
from llmeval_assets.snapshots import source_args


@cache
def shipped_registry() -> Registry:
    return load_registry(PROJECT_ROOT / "registry")


def registry_source_args(dataset: str, source: str = "offline", **overrides: Any) -> dict[str, Any]:
    """The shipped registry's source arguments for `dataset`, with `overrides` (e.g. split=, revision=) on top."""
    return {**source_args(shipped_registry(), dataset, source), **overrides}


def load_test_items(dataset: str, source: str = "offline", **overrides: Any) -> list[Item]:
    """The items of `dataset` (its registry key, which is also its benchmark's name) from `source`."""
    return get_benchmark(dataset).load_items(source, **registry_source_args(dataset, source, **overrides))
