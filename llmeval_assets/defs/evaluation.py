"""Predictions and scores for every supported dataset, partitioned by model.

Each is ONE multi-asset over all datasets (can_subset): a run for one model selects the datasets that are stale or
missing, and the engine loads once for all of them (dagster_findings.md §1.4). Predictions hold the GPU (pool
`gpu`); scores run after them on the CPU (code execution, judging) and carry the plausibility checks."""


import json
import time
from functools import partial
from datetime import datetime, timezone
from typing import Optional

import dagster as dg

from llmeval_assets.benchmarks.base import MetricValue, ScoringContext, get_benchmark
from llmeval_assets.defs.partitions import models_partitions
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.defs.weights import model_weights
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.evaluation import (
    CHUNK_SIZE,
    PairSpec,
    predict_pair,
    resolve_pair,
    score_pair,
    select_items,
    valid_pair,
)
from llmeval_assets.judging import JUDGE_MODEL_ENV, JudgeChoice
from llmeval_assets.planning import requested_samples
from llmeval_assets.progress import report as report_progress
from llmeval_assets.registry import Registry
from llmeval_assets.snapshots import current_items
from llmeval_assets.storage.judgments import JudgmentCache
from llmeval_assets.storage.lake import ResultsLake

class EvaluationConfig(dg.Config):
    samples: Optional[int] = None  # per dataset; None = the owning category's sample_limit
    # How judged benchmarks (MT-Bench) are judged: see judging.JudgeChoice
    judge_model: Optional[str] = None  # registry key of the judge; None = $LLMEVAL_JUDGE_MODEL or the model itself
    judge_max_tokens: Optional[int] = None  # cap the judge's reply; None: FastChat's 2048
    judge_rating_fallback: bool = False  # rate by likelihood when a judgment has no [[N]] (small judges)
    chunk_size: int = CHUNK_SIZE  # requests per engine call; each finished chunk is stored (what a crash can lose)


def predictions_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(f"predictions_{dataset}")


def scores_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(f"scores_{dataset}")


CHECKS = {
    "scores_in_range": "every metric lies within its declared range",
    "no_empty_completions": "at most half of the generated completions are empty",
    "rows_match_samples": "one scored row per requested sample",
}


def _selected_datasets(context: dg.AssetExecutionContext, datasets: list[str], key_of) -> list[str]:
    return [d for d in datasets if key_of(d) in context.selected_asset_keys]


def build_evaluation_assets(registry: Registry) -> list[dg.AssetsDefinition]:
    datasets = [d for d, e in registry.datasets.items() if e.supported]
    versions = {d: _benchmark_version(registry, d) for d in datasets}

    @dg.multi_asset(
        name="predictions",
        specs=[dg.AssetSpec(predictions_key(d), partitions_def=models_partitions, deps=[model_weights.key,
                            dg.AssetKey(f"dataset_{d}")], code_version=versions[d], group_name="predictions",
                            skippable=True, kinds={"vllm"},
                            description=f"Raw model outputs on {registry.datasets[d].display_name}")
               for d in datasets],
        can_subset=True, pool="gpu", partitions_def=models_partitions)
    def predictions(context: dg.AssetExecutionContext, config: EvaluationConfig, engine: EngineResource,
                    store: ResultsStore):
        reg, lake = store.registry(), store.lake
        model = reg.resolve_model(context.partition_key)
        started = datetime.now(timezone.utc)
        began = time.perf_counter()
        report_progress(f"{model}: loading the engine", 0, 1)
        inference = engine.get_engine(model)
        load_s = time.perf_counter() - began
        report_progress(f"{model}: loading the engine", 1, 1)
        provenance = inference.provenance
        lake.set_weights(model, {"model": model, "revision": provenance.weights_revision, "source": "engine"})
        totals = {"tokens_in": 0, "tokens_out": 0, "samples": 0, "inference_s": 0.0}
        selected = _selected_datasets(context, datasets, predictions_key)
        for dataset in selected:
            pair = resolve_pair(reg, model, dataset)
            items, dataset_version = current_items(lake, dataset)
            chosen, fewshot = select_items(items, _samples(reg, model, dataset, config.samples))

            def progress(done: int, total: int, dataset: str = dataset) -> None:
                context.log.info(f"{model} / {dataset}: {done}/{total} samples")
                report_progress(f"{model} / {dataset}", done, total)

            stats = predict_pair(inference, pair, chosen, fewshot, lake, run_id=context.run.run_id,
                                 weights_revision=provenance.weights_revision, chunk_size=config.chunk_size,
                                 progress=progress)
            for name in ("tokens_in", "tokens_out", "inference_s"):
                totals[name] += getattr(stats, name)
            totals["samples"] += stats.computed
            yield dg.MaterializeResult(
                asset_key=predictions_key(dataset),
                data_version=dg.DataVersion(f"{pair.spec_hash}-{dataset_version[:12]}-{len(chosen)}"),
                metadata={"spec_hash": pair.spec_hash, "variant": pair.variant, "settings_from": pair.settings_from,
                          "samples": len(chosen), "reused": stats.reused, "computed": stats.computed,
                          "errors": stats.errors, "tokens_in": stats.tokens_in, "tokens_out": stats.tokens_out,
                          "inference_s": round(stats.inference_s, 2),
                          "tokens_per_s": round(stats.tokens_out / stats.inference_s, 1) if stats.inference_s else 0.0,
                          "weights_revision": provenance.weights_revision})
        wall = time.perf_counter() - began
        entry = reg.models[model]
        lake.write_run({
            "run_id": context.run.run_id, "model": model, "datasets": selected, "started_at": started,
            "finished_at": datetime.now(timezone.utc), "wall_s": wall, "engine_load_s": load_s,
            "inference_s": totals["inference_s"], "gpu_seconds": wall * entry.gpus,
            "tensor_parallel_size": entry.tensor_parallel_size, "backend": provenance.backend,
            "backend_version": provenance.backend_version,
            "engine_args": json.dumps(provenance.engine_args, sort_keys=True, default=str),
            "tokens_in": totals["tokens_in"], "tokens_out": totals["tokens_out"], "samples": totals["samples"],
            "device": engine.device})

    @dg.multi_asset(
        name="scores",
        specs=[dg.AssetSpec(scores_key(d), partitions_def=models_partitions, deps=[predictions_key(d)],
                            code_version=versions[d], group_name="scores", skippable=True,
                            description=f"Per-sample scores and metrics on {registry.datasets[d].display_name}")
               for d in datasets],
        check_specs=[dg.AssetCheckSpec(name, asset=scores_key(d), description=text)
                     for d in datasets for name, text in CHECKS.items()],
        can_subset=True, partitions_def=models_partitions)
    def scores(context: dg.AssetExecutionContext, config: EvaluationConfig, engine: EngineResource,
               store: ResultsStore):
        reg, lake = store.registry(), store.lake
        model = reg.resolve_model(context.partition_key)
        cache = JudgmentCache(lake.root / "judgments")
        judge = JudgeChoice(config.judge_model, config.judge_max_tokens, config.judge_rating_fallback)
        for dataset in _selected_datasets(context, datasets, scores_key):
            pair = resolve_pair(reg, model, dataset)
            items, dataset_version = current_items(lake, dataset)
            chosen, _ = select_items(items, _samples(reg, model, dataset, config.samples))
            ctx = ScoringContext(judgment_cache=cache, reasoning_model=reg.models[model].reasoning,
                                 judge_max_tokens=judge.max_tokens, judge_rating_fallback=judge.rating_fallback,
                                 progress=partial(report_progress, f"{model} / {dataset}: scoring"))
            judged_by = judge.describe(reg, model) if pair.benchmark.judged else ""
            if judged_by:
                judge_key = judge.judge_key(reg, model)
                if judge_key == model:
                    context.log.warning(f"{dataset}: {model} judges its own answers: a smoke test only, not a "
                                        f"meaningful score; set judge_model / {JUDGE_MODEL_ENV} to a strong judge")
                ctx.judge = engine.get_engine(judge_key)  # judgments are cached per judge key@weights revision
            metrics = score_pair(pair, chosen, lake, dataset_version=dataset_version, ctx=ctx,
                                 run_id=context.run.run_id,
                                 weights_revision=(lake.weights(model) or {}).get("revision", "unknown"),
                                 judge=judged_by)
            yield dg.MaterializeResult(
                asset_key=scores_key(dataset),
                metadata={"spec_hash": pair.spec_hash, "samples": len(chosen),
                          **{m.name: dg.MetadataValue.float(float(m.value)) for m in metrics},
                          **{f"{m.name}_stderr": dg.MetadataValue.float(float(m.stderr or 0.0)) for m in metrics},
                          **({"judge": judged_by} if judged_by else {})})
            yield from plausibility_checks(context, lake, pair, metrics, len(chosen))

    return [predictions, scores]


def plausibility_checks(context: dg.AssetExecutionContext, lake: ResultsLake, pair: PairSpec,
                        metrics: list[MetricValue], samples: int):
    model, dataset = pair.model, pair.dataset
    out_of_range = [m.name for m in metrics if not (pair.benchmark.metric_range(m.name)["value_min"] <= m.value
                                                    <= pair.benchmark.metric_range(m.name)["value_max"])]
    stored = lake.stored_predictions(model, dataset, pair.spec_hash)
    generated = [p for p in stored.values() if p.outputs]
    empty = sum(all(not o.strip() for o in p.outputs) for p in generated)
    scored_items = {row["item_id"] for row in lake.sample_scores(model, dataset)}
    results = {
        "scores_in_range": (not out_of_range, {"out_of_range": ", ".join(out_of_range) or "none"}),
        "no_empty_completions": (empty <= len(generated) / 2, {"empty": empty, "generated": len(generated)}),
        "rows_match_samples": (len(scored_items) == samples, {"scored": len(scored_items), "samples": samples}),
    }
    for name, (passed, metadata) in results.items():
        key = dg.AssetCheckKey(scores_key(dataset), name)
        if key in context.selected_asset_check_keys:
            yield dg.AssetCheckResult(asset_key=scores_key(dataset), check_name=name, passed=bool(passed),
                                      metadata=metadata, severity=dg.AssetCheckSeverity.WARN)


def _samples(registry: Registry, model: str, dataset: str, samples: int | None) -> int:
    return requested_samples(registry, valid_pair(registry, model, dataset), samples)


def _benchmark_version(registry: Registry, dataset: str) -> str:
    return get_benchmark(registry.datasets[dataset].benchmark).version
