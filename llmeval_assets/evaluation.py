"""Evaluating one (model, dataset) partition, as plain functions the Dagster assets call (and tests call directly).

    pair = resolve_pair(registry, model, dataset)            # benchmark, variant and spec (with category settings)
    items, fewshot = select_items(snapshot_items, samples)   # a stable sample: growing N keeps the first items
    predict_pair(engine, pair, items, fewshot, lake, ...)    # skips stored samples; appends chunk by chunk
    score_pair(pair, items, lake, ctx, ...)                  # extraction + metrics; records what it came from
    partition_status(registry, lake, model, dataset)         # fresh / stale (why) / missing
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from llmeval_assets.benchmarks.base import (
    Benchmark,
    Item,
    MetricValue,
    Prediction,
    ScoringContext,
    TaskSpec,
    get_benchmark,
)
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.judging import JudgeChoice
from llmeval_assets.planning import requested_samples
from llmeval_assets.registry import Pair, Registry, UnknownNameError
from llmeval_assets.storage.lake import PartitionState, ResultsLake

SAMPLE_SEED = "llmeval-sample-v1"  # changing it changes which items a sample of N contains
CHUNK_SIZE = 256  # requests per engine call: large enough to keep vLLM's batch full, small enough to lose little


@dataclass(frozen=True)
class PairSpec:
    model: str
    dataset: str
    benchmark: Benchmark
    variant: str
    spec: TaskSpec
    settings_from: str  # the category whose settings apply

    @property
    def spec_hash(self) -> str:
        return self.spec.spec_hash


def valid_pair(registry: Registry, model: str, dataset: str) -> Pair:
    owners = {(p.model, p.dataset): p for p in registry.pairs(include_optional=True)}
    pair = owners.get((model, dataset))
    if pair is None:
        raise UnknownNameError(f"no category evaluates model {model!r} on dataset {dataset!r}; "
                               f"`llmeval plan --model {model} --include-optional` lists its datasets")
    return pair


def resolve_pair(registry: Registry, model: str, dataset: str) -> PairSpec:
    """The spec a pair runs with: instruct models get the benchmark's chat variant (model-card settings) when it
    has one, base models the harness variant; then the owning category's generation settings."""
    pair = valid_pair(registry, model, dataset)
    entry = registry.models[model]
    benchmark = get_benchmark(registry.datasets[dataset].benchmark or dataset)
    variant = benchmark.chat_variant if entry.instruct and benchmark.chat_variant else benchmark.default_variant
    spec = benchmark.task_spec(variant).with_category_settings(registry.settings_for(pair))
    return PairSpec(model, dataset, benchmark, variant, spec, pair.category)


def _sample_order(item_id: str) -> str:
    return hashlib.sha256(f"{SAMPLE_SEED}:{item_id}".encode()).hexdigest()


def select_items(items: Sequence[Item], samples: int | None) -> tuple[list[Item], list[Item]]:
    """(evaluated items, few-shot pool). The sample is the first N test items in a fixed pseudo-random order, so
    it covers all subjects and a larger N contains every item of a smaller one (stored samples stay reusable)."""
    tests = sorted((i for i in items if i.split == "test"), key=lambda i: _sample_order(i.item_id))
    fewshot = [i for i in items if i.split != "test"]
    return (tests[:samples] if samples else tests), fewshot


@dataclass
class PredictionStats:
    requested: int = 0
    reused: int = 0
    computed: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    inference_s: float = 0.0
    chunks: list[float] = field(default_factory=list)


def predict_pair(engine: InferenceEngine, pair: PairSpec, items: Sequence[Item], fewshot: Sequence[Item],
                 lake: ResultsLake, *, run_id: str, weights_revision: str, chunk_size: int = CHUNK_SIZE,
                 progress: Callable[[int, int], None] | None = None) -> PredictionStats:
    """Predict every item not already stored for this spec; each completed chunk is stored at once, so a killed run
    loses at most the chunk in flight."""
    stored = lake.stored_predictions(pair.model, pair.dataset, pair.spec_hash)
    todo = [item for item in items if item.item_id not in stored]
    stats = PredictionStats(requested=len(items), reused=len(items) - len(todo))
    groups = {item.item_id: item.group for item in items}
    done = stats.reused
    if progress:
        progress(done, len(items))
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        began = time.perf_counter()
        predictions = pair.benchmark.predict(engine, chunk, pair.spec, fewshot)
        elapsed = time.perf_counter() - began
        now = datetime.now(timezone.utc)
        lake.append_predictions([prediction_row(p, pair, groups[p.item_id], run_id, weights_revision, now)
                                 for p in predictions])
        stats.computed += len(predictions)
        stats.errors += sum(p.error is not None for p in predictions)
        stats.tokens_in += sum(p.tokens_in for p in predictions)
        stats.tokens_out += sum(p.tokens_out for p in predictions)
        stats.inference_s += elapsed
        stats.chunks.append(elapsed)
        done += len(chunk)
        if progress:
            progress(done, len(items))
    return stats


def prediction_row(p: Prediction, pair: PairSpec, group: str | None, run_id: str, weights_revision: str,
                   created_at: datetime) -> dict[str, Any]:
    return {"model": pair.model, "dataset": pair.dataset, "spec_hash": pair.spec_hash, "item_id": p.item_id,
            "item_group": group, "prompt_hash": p.prompt_hash, "outputs": list(p.outputs),
            "finish_reasons": [r or "" for r in p.finish_reasons], "logprobs": list(p.logprobs),
            "is_greedy": list(p.is_greedy), "tokens_in": p.tokens_in, "tokens_out": p.tokens_out,
            "latency_s": p.latency_s, "error": p.error, "run_id": run_id, "weights_revision": weights_revision,
            "created_at": created_at}


class MissingPredictionsError(RuntimeError):
    pass


def score_pair(pair: PairSpec, items: Sequence[Item], lake: ResultsLake, *, dataset_version: str,
               weights_revision: str, run_id: str, ctx: ScoringContext | None = None,
               judge: str = "") -> list[MetricValue]:
    """Score the stored predictions of exactly these items and record the partition as materialized (with
    `judge`, JudgeChoice.describe, for a judged benchmark)."""
    stored = lake.stored_predictions(pair.model, pair.dataset, pair.spec_hash)
    missing = [item.item_id for item in items if item.item_id not in stored]
    if missing:
        raise MissingPredictionsError(
            f"{pair.model}/{pair.dataset}: {len(missing)} of {len(items)} items have no stored prediction for spec "
            f"{pair.spec_hash} (first: {missing[0]}); materialize predictions_{pair.dataset} first")
    predictions = [stored[item.item_id] for item in items]
    scores = pair.benchmark.score(items, predictions, pair.spec, ctx)
    metrics = pair.benchmark.aggregate(scores, pair.spec)
    state = PartitionState(model=pair.model, dataset=pair.dataset, spec_hash=pair.spec_hash,
                           dataset_version=dataset_version, weights_revision=weights_revision, samples=len(items),
                           run_id=run_id, materialized_at=datetime.now(timezone.utc), judge=judge)
    lake.write_scores(pair.model, pair.dataset, pair.spec_hash, scores, metrics,
                      primary=pair.spec.metrics[0], state=state)
    return metrics


@dataclass(frozen=True)
class PartitionStatus:
    model: str
    dataset: str
    status: str  # "fresh" | "stale" | "missing"
    reasons: tuple[str, ...] = ()
    samples: int = 0  # requested

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "dataset": self.dataset, "status": self.status, "reasons": list(self.reasons),
                "samples": self.samples}


def partition_status(registry: Registry, lake: ResultsLake, model: str, dataset: str,
                     samples: int | None = None, judge: JudgeChoice | None = None) -> PartitionStatus:
    """Fresh when the stored result was computed from the current spec, dataset snapshot and model revision with at
    least the requested number of samples (and, for a judged benchmark, by `judge` when it is a chosen one, see
    JudgeChoice); otherwise stale, with each reason."""
    pair = valid_pair(registry, model, dataset)
    wanted = requested_samples(registry, pair, samples)
    state = lake.partition_state(model, dataset)
    if state is None:
        return PartitionStatus(model, dataset, "missing", ("never evaluated",), wanted)
    reasons = []
    resolved = resolve_pair(registry, model, dataset)
    if state.spec_hash != resolved.spec_hash:
        reasons.append(f"spec changed ({state.spec_hash} -> {resolved.spec_hash}): prompt, extraction, metric or "
                       "settings")
    if resolved.benchmark.judged and judge is not None and judge.chosen:
        wanted_judge = judge.describe(registry, model)
        if state.judge != wanted_judge:
            reasons.append(f"judge changed ({state.judge or 'not recorded'} -> {wanted_judge})")
    snapshot = lake.current_snapshot(dataset)
    if snapshot and snapshot["content_hash"] != state.dataset_version:
        reasons.append(f"dataset snapshot changed ({state.dataset_version[:12]} -> {snapshot['content_hash'][:12]})")
    weights = lake.weights(model)
    revision = registry.models[model].revision or (weights or {}).get("revision")
    if revision and revision != state.weights_revision:
        reasons.append(f"model revision changed ({state.weights_revision[:12]} -> {revision[:12]})")
    if snapshot and "test_items" in snapshot:  # a sample cannot be larger than the data (a small fixture, say)
        wanted = min(wanted, snapshot["test_items"])
    if state.samples < wanted:
        reasons.append(f"{state.samples} samples stored, {wanted} requested")
    return PartitionStatus(model, dataset, "stale" if reasons else "fresh", tuple(reasons), wanted)


def stale_work(registry: Registry, lake: ResultsLake, samples: int | None = None,
               models: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
               include_optional: bool = True, judge: JudgeChoice | None = None) -> dict[str, list[PartitionStatus]]:
    """Per model, the partitions of supported datasets that are stale or missing (what a run must materialize)."""
    work: dict[str, list[PartitionStatus]] = {}
    for pair in registry.pairs(include_optional=include_optional):
        if not registry.datasets[pair.dataset].supported:
            continue
        if (models is not None and pair.model not in models) or (datasets is not None and pair.dataset not in datasets):
            continue
        status = partition_status(registry, lake, pair.model, pair.dataset, samples, judge)
        if status.status != "fresh":
            work.setdefault(pair.model, []).append(status)
    return work
