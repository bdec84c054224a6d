"""Predictions and scores for every supported dataset, partitioned by model.

Each is ONE multi-asset over all datasets (can_subset): a run for one model selects the datasets that are stale or
missing, and the engine loads once for all of them (dagster_findings.md §1.4). Predictions hold the GPU (pool
`gpu`); scores run after them on the CPU (code execution, judging) and carry the plausibility checks. The
predictions step computes each evaluation's identity once and stores it; the scores step reads it back (items,
revision, snapshot version), so the two steps can never disagree about what they evaluate."""

import json
import time
from datetime import UTC, datetime
from functools import partial

import dagster as dg

from llmeval_assets.benchmarks.base import MetricValue, ScoringContext, get_benchmark
from llmeval_assets.defs.partitions import models_partitions
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.defs.weights import model_weights
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.evaluation import (
    CHUNK_SIZE,
    Evaluation,
    evaluation_identity,
    fewshot_pool,
    predict_pair,
    resolve_evaluation,
    score_pair,
    select_items,
    wanted_samples,
)
from llmeval_assets.judging import JUDGE_MODEL_ENV, JudgeChoice
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.progress import report as report_progress
from llmeval_assets.registry import Registry
from llmeval_assets.snapshots import current_items, items_of_version
from llmeval_assets.storage.judgments import JudgmentCache
from llmeval_assets.storage.lake import ResultsLake

FAILING_SAMPLES_SHOWN = 5


class EvaluationConfig(dg.Config):
    samples: int | None = None  # per dataset; None = the owning category's sample_limit
    # The profile: a registry profile name (None: each category's own) and run-level overrides, the JSON that
    # profiles.ProfileChoice.as_config writes (the CLI's --num-fewshot, --dtype, --items ...)
    profile: str | None = None
    overrides: str | None = None
    # How judged benchmarks (MT-Bench) are judged: see judging.JudgeChoice
    judge_model: str | None = None  # registry key of the judge; None = $LLMEVAL_JUDGE_MODEL or the model itself
    judge_max_tokens: int | None = None  # cap the judge's reply; None: FastChat's 2048
    judge_rating_fallback: bool = False  # rate by likelihood when a judgment has no [[N]] (small judges)
    chunk_size: int = CHUNK_SIZE  # requests per engine call; each finished chunk is stored (what a crash can lose)

    def choice(self) -> ProfileChoice:
        return ProfileChoice.from_config(self.profile, self.overrides)


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
        can_subset=True, pool="gpu")
    def predictions(context: dg.AssetExecutionContext, config: EvaluationConfig, engine: EngineResource,
                    store: ResultsStore):
        reg, lake = store.registry(), store.lake
        model = reg.resolve_model(context.partition_key)
        selected = _selected_datasets(context, datasets, predictions_key)
        evaluations = [resolve_evaluation(reg, model, dataset, config.choice()) for dataset in selected]
        dtype = evaluations[0].dtype if evaluations else None  # a profile's dtype is the same for all its datasets
        started = datetime.now(UTC)
        began = time.perf_counter()
        report_progress(f"{model}: loading the engine", 0, 1)
        inference = engine.get_engine(model, dtype)
        load_s = time.perf_counter() - began
        report_progress(f"{model}: loading the engine", 1, 1)
        provenance = inference.provenance
        tokenizer = inference.tokenizer_fingerprint()
        fingerprint = engine.fingerprint(model, dtype)
        totals = {"tokens_in": 0, "tokens_out": 0, "samples": 0, "inference_s": 0.0}
        for evaluation in evaluations:
            dataset = evaluation.dataset
            items, dataset_version = current_items(lake, dataset)
            chosen, pool = select_items(items, wanted_samples(reg, evaluation, config.samples, None), evaluation)
            pool = fewshot_pool(evaluation, pool)
            identity = evaluation_identity(evaluation, items=items, chosen=chosen, fewshot=pool,
                                           weights_revision=provenance.weights_revision,
                                           dataset_version=dataset_version, tokenizer=tokenizer, engine=fingerprint)
            lake.write_identity(identity)

            def progress(done: int, total: int, dataset: str = dataset) -> None:
                context.log.info(f"{model} / {dataset}: {done}/{total} samples")
                report_progress(f"{model} / {dataset}", done, total)

            stats = predict_pair(inference, evaluation, identity, chosen, pool, lake, run_id=context.run.run_id,
                                 chunk_size=config.chunk_size, progress=progress)
            for name in ("tokens_in", "tokens_out", "inference_s"):
                totals[name] += getattr(stats, name)
            totals["samples"] += stats.computed
            yield dg.MaterializeResult(
                asset_key=predictions_key(dataset),
                data_version=dg.DataVersion(f"{identity.identity_hash}-{len(chosen)}"),
                metadata={"profile": evaluation.profile_label, "variant": evaluation.variant,
                          "spec_hash": identity.spec_hash, "identity": identity.identity_hash,
                          "settings_from": evaluation.settings_from or "none", "samples": len(chosen),
                          "reused": stats.reused, "computed": stats.computed, "errors": stats.errors,
                          "tokens_in": stats.tokens_in, "tokens_out": stats.tokens_out,
                          "inference_s": round(stats.inference_s, 2),
                          "tokens_per_s": round(stats.tokens_out / stats.inference_s, 1) if stats.inference_s else 0.0,
                          "weights_revision": identity.weights_revision,
                          "engine": dg.MetadataValue.json(json.loads(identity.engine)),
                          **({"category_conflicts": "\n".join(evaluation.conflicts)} if evaluation.conflicts else {})})
        wall = time.perf_counter() - began
        entry = reg.models[model]
        lake.write_run({
            "run_id": context.run.run_id, "model": model, "datasets": selected,
            "profile": evaluations[0].profile if evaluations else "", "started_at": started,
            "finished_at": datetime.now(UTC), "wall_s": wall, "engine_load_s": load_s,
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
        can_subset=True)
    def scores(context: dg.AssetExecutionContext, config: EvaluationConfig, engine: EngineResource,
               store: ResultsStore):
        reg, lake = store.registry(), store.lake
        model = reg.resolve_model(context.partition_key)
        cache = JudgmentCache(lake.root / "judgments")
        judge = JudgeChoice(config.judge_model, config.judge_max_tokens, config.judge_rating_fallback)
        for dataset in _selected_datasets(context, datasets, scores_key):
            evaluation = resolve_evaluation(reg, model, dataset, config.choice())
            identity = lake.identity(model, dataset, evaluation.profile)
            if identity is None:
                raise RuntimeError(f"{model} / {dataset} ({evaluation.profile}): no predictions step has run for "
                                   f"this evaluation; materialize predictions_{dataset} first")
            items = items_of_version(dataset, identity.dataset_version)
            ctx = ScoringContext(judgment_cache=cache, reasoning_model=reg.models[model].reasoning,
                                 judge_max_tokens=judge.max_tokens, judge_rating_fallback=judge.rating_fallback,
                                 progress=partial(report_progress, f"{model} / {dataset}: scoring"))
            judged_by = judge.describe(reg, model) if evaluation.benchmark.judged else ""
            if judged_by:
                judge_key = judge.judge_key(reg, model)
                if judge_key == model:
                    context.log.warning(f"{dataset}: {model} judges its own answers: a smoke test only, not a "
                                        f"meaningful score; set judge_model / {JUDGE_MODEL_ENV} to a strong judge")
                ctx.judge = engine.get_engine(judge_key)  # judgments are cached per judge key@weights revision
            snapshot = lake.current_snapshot(dataset) or {}
            metrics = score_pair(evaluation, identity, items, lake, ctx=ctx, run_id=context.run.run_id,
                                 judge=judged_by, fixture=bool(snapshot.get("fixture")))
            overall = [m for m in metrics if m.group is None]
            yield dg.MaterializeResult(
                asset_key=scores_key(dataset),
                metadata={"profile": evaluation.profile_label, "variant": evaluation.variant,
                          "primary_metric": evaluation.primary_metric, "spec_hash": identity.spec_hash,
                          "samples": len(identity.item_ids),
                          **{m.name: dg.MetadataValue.float(float(m.value)) for m in overall},
                          **{f"{m.name}_stderr": dg.MetadataValue.float(float(m.stderr or 0.0)) for m in overall},
                          "failing_samples": dg.MetadataValue.md(failing_samples_table(lake, evaluation)),
                          **({"judge": judged_by} if judged_by else {})})
            yield from plausibility_checks(context, lake, evaluation, overall, len(identity.item_ids))

    return [predictions, scores]


def failing_samples_table(lake: ResultsLake, evaluation: Evaluation) -> str:
    """A few items that scored below the maximum on the primary metric, as a Markdown table."""
    rows = [r for r in lake.sample_scores(evaluation.model, evaluation.dataset, evaluation.profile)
            if r["metric"] == evaluation.primary_metric]
    top = evaluation.benchmark.metric_range(evaluation.primary_metric)["value_max"]
    failing = [r for r in rows if r["value"] < top][:FAILING_SAMPLES_SHOWN]
    if not failing:
        return f"no failing samples on {evaluation.primary_metric}"
    lines = ["| item | answer | target | score | explanation |", "|---|---|---|---|---|"]
    lines += [f"| {_cell(r['item_id'])} | {_cell(r['answer'])} | {_cell(r['target'])} | {r['value']:g} | "
              f"{_cell(r['explanation'])} |" for r in failing]
    return "\n".join(lines) + f"\n\n`llmeval samples --model {evaluation.model} --dataset {evaluation.dataset} --wrong`"


def _cell(value: object, limit: int = 80) -> str:
    text = "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plausibility_checks(context: dg.AssetExecutionContext, lake: ResultsLake, evaluation: Evaluation,
                        metrics: list[MetricValue], samples: int):
    model, dataset, profile = evaluation.model, evaluation.dataset, evaluation.profile
    ranges = {m.name: evaluation.benchmark.metric_range(m.name) for m in metrics}
    out_of_range = [m.name for m in metrics
                    if not ranges[m.name]["value_min"] <= m.value <= ranges[m.name]["value_max"]]
    identity = lake.identity(model, dataset, profile)
    wanted = set(identity.item_ids) if identity else set()
    latest = {item_id: rows[-1].prediction for item_id, rows in lake.stored_predictions(model, dataset, profile).items()
              if item_id in wanted}
    generated = [p for p in latest.values() if p.outputs]
    empty = sum(all(not o.strip() for o in p.outputs) for p in generated)
    scored_items = {row["item_id"] for row in lake.sample_scores(model, dataset, profile)}
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


def _benchmark_version(registry: Registry, dataset: str) -> str:
    return get_benchmark(registry.datasets[dataset].benchmark_module).version

