"""Evaluating one (model, dataset) pair under a profile, as plain functions the Dagster assets call (and tests call
directly).

    evaluation = resolve_evaluation(registry, model, dataset, choice)   # variant, spec, profile, category settings
    chosen, pool = select_items(evaluation, snapshot_items, samples)    # which items, which exemplars
    identity = evaluation_identity(evaluation, ...)                      # computed once, stored beside predictions
    predict_pair(engine, evaluation, identity, chosen, pool, lake, ...)  # reuses only predictions of this identity
    score_pair(evaluation, identity, chosen, lake, ...)                  # extraction + metrics; records the identity
    partition_status(registry, lake, model, dataset, choice, ...)        # fresh / stale (why) / missing
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmeval_assets.benchmarks.base import (
    FEWSHOT_POOL_HINT,
    Benchmark,
    Item,
    MetricValue,
    Prediction,
    ScoringContext,
    SpecError,
    SpecOverrides,
    TaskSpec,
    get_benchmark,
)
from llmeval_assets.benchmarks.dispatch import (
    CapturingEngine,
    RecordingEngine,
    request_digests,
    requests_by_item,
    spec_engine,
)
from llmeval_assets.benchmarks.sources import CorruptSnapshotError
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.fingerprint import fingerprint_hash, installed_backend, serving_fingerprint
from llmeval_assets.engine.requests import Request
from llmeval_assets.identity import PROBE_ITEMS, EvaluationIdentity, item_hash, spec_hash
from llmeval_assets.judging import JudgeChoice
from llmeval_assets.profiles import DEFAULT_PROFILE, ProfileChoice, unknown_items
from llmeval_assets.registry import Pair, Registry, UnknownNameError
from llmeval_assets.registry.schema import BenchmarkProfile, ProfileEntry
from llmeval_assets.storage.lake import PartitionState, ResultsLake, StoredPrediction

SAMPLE_SEED = "llmeval-sample-v1"  # changing it changes which items a sample of N contains
CHUNK_SIZE = 256  # requests per engine call: large enough to keep vLLM's batch full, small enough to lose little


class EvaluationError(ValueError):
    """A pair cannot be evaluated as asked (unknown variant, impossible override, unknown item ids...)."""


@dataclass(frozen=True)
class Evaluation:
    """How one (model, dataset) pair is evaluated: resolved once from the registry, the profile and a run's
    overrides, and carried by every later step."""

    model: str
    dataset: str
    benchmark: Benchmark
    variant: str
    spec: TaskSpec
    profile: str  # what results are stored under: the profile's name, or name~digest when a run overrides it
    profile_label: str  # the profile in words
    settings_from: str | None  # the category whose settings apply (None: a model evaluated outside categories)
    conflicts: tuple[str, ...] = ()  # category settings the variant fixes otherwise (kept, reported)
    dtype: str | None = None  # engine dtype the profile or run asks for (None: the model's own)
    limit: int | None = None
    item_ids: tuple[str, ...] = ()
    fewshot_file: str | None = None

    @property
    def primary_metric(self) -> str:
        return self.spec.primary_metric


def valid_pair(registry: Registry, model: str, dataset: str) -> Pair:
    pair = registry.pairs_by_key.get((model, dataset))
    if pair is None:
        raise UnknownNameError(f"no category evaluates model {model!r} on dataset {dataset!r}; "
                               f"`llmeval plan --model {model} --include-optional` lists its datasets")
    return pair


def profile_name(registry: Registry, pair: Pair, choice: ProfileChoice) -> str:
    """The profile a run uses for a pair: the one it names, else its category's."""
    return registry.resolve_profile(choice.name) if choice.name else registry.categories[pair.category].profile


def choose_variant(benchmark: Benchmark, profile: ProfileEntry, settings: BenchmarkProfile | None,
                   instruct: bool, asked: str | None) -> str:
    if asked or (settings and settings.variant):
        return benchmark.resolve_variant(asked or (settings.variant if settings else None))
    wants_chat = profile.variants == "chat" or (profile.variants == "by_model" and instruct)
    return benchmark.chat_variant if wants_chat and benchmark.chat_variant else benchmark.default_variant


def resolve_evaluation(registry: Registry, model: str, dataset: str,
                       choice: ProfileChoice = ProfileChoice()) -> Evaluation:
    """The evaluation a pair runs under `choice`: the variant (the run's, else the profile's, else by the model's
    instruct flag under the profile's rule), the profile's then the run's overrides (checked against the variant),
    and the owning category's settings where the variant leaves a knob open. Raises EvaluationError."""
    pair = valid_pair(registry, model, dataset)
    name = profile_name(registry, pair, choice)
    profile = registry.profiles[name]
    benchmark = get_benchmark(registry.datasets[dataset].benchmark or dataset)
    settings = profile.benchmarks.get(benchmark.name)
    run = choice.overrides
    try:
        variant = choose_variant(benchmark, profile, settings, registry.models[model].instruct, run.variant)
        overrides = merged_overrides(settings, choice)
        base, conflicts = benchmark.task_spec(variant).with_category_settings(registry.settings_for(pair),
                                                                              pair.category)
        spec = benchmark.configure(variant, overrides, base=base)
    except (KeyError, SpecError) as exc:
        raise EvaluationError(f"{model} / {dataset} (profile {name}): {exc.args[0] if exc.args else exc}") from None
    return Evaluation(model=model, dataset=dataset, benchmark=benchmark, variant=variant, spec=spec,
                      profile=choice.profile_id(name), profile_label=choice.describe(name),
                      settings_from=pair.category, conflicts=conflicts, dtype=run.dtype or _dtype(profile),
                      limit=run.limit, item_ids=run.item_ids, fewshot_file=run.fewshot_file)


def _dtype(profile: ProfileEntry) -> str | None:
    return profile.dtype.value if profile.dtype else None


def merged_overrides(settings: BenchmarkProfile | None, choice: ProfileChoice) -> SpecOverrides:
    """The profile's settings for the benchmark, then the run's (a run's value wins)."""
    run = choice.overrides
    sampling = dict(settings.gen_kwargs.items() if settings else ())
    sampling.update(run.gen_kwargs)
    return SpecOverrides(
        num_fewshot=run.num_fewshot if run.num_fewshot is not None else (settings.num_fewshot if settings else None),
        chat_template=run.chat_template if run.chat_template is not None else
        (settings.chat_template if settings else None),
        system_instruction=run.system_instruction if run.system_instruction is not None else
        (settings.system_instruction if settings else None),
        sampling=tuple(sorted(sampling.items())), fewshot_file_digest=run.fewshot_digest)


def profile_problems(registry: Registry) -> tuple[list[str], list[str]]:
    """(errors, conflicts): what the registry's profiles ask of benchmarks that they cannot do (an unknown variant,
    an impossible setting), and category settings that differ from what a variant fixes (the variant's value is
    kept). `llmeval validate` shows both. Needs the benchmark modules, so it runs here rather than in the registry
    loader."""
    errors = []
    for name, profile in registry.profiles.items():
        for bench_name, settings in profile.benchmarks.items():
            try:
                benchmark = get_benchmark(bench_name)
                variants = {choose_variant(benchmark, profile, settings, instruct, None) for instruct in (False, True)}
                for variant in sorted(variants):
                    benchmark.configure(variant, merged_overrides(settings, ProfileChoice(name)))
            except (KeyError, SpecError) as exc:
                errors.append(f"profiles.yaml: {name}.benchmarks.{bench_name}: {exc.args[0] if exc.args else exc}")
    conflicts: dict[str, None] = {}
    for pair in registry.pairs():
        if not registry.datasets[pair.dataset].supported:
            continue
        try:
            evaluation = resolve_evaluation(registry, pair.model, pair.dataset)
        except EvaluationError as exc:
            errors.append(str(exc))
            continue
        conflicts.update((f"categories.yaml: {pair.category}.settings: {c}", None) for c in evaluation.conflicts)
    return errors, list(conflicts)


# ------------------------------------------------------------------------------------------------ items


def _sample_order(item_id: str) -> str:
    return hashlib.sha256(f"{SAMPLE_SEED}:{item_id}".encode()).hexdigest()


def in_sample_order(items: Sequence[Item]) -> list[Item]:
    return sorted((i for i in items if i.split == "test"), key=lambda i: _sample_order(i.item_id))


def select_items(items: Sequence[Item], samples: int | None,
                 evaluation: Evaluation | None = None) -> tuple[list[Item], list[Item]]:
    """(evaluated items, few-shot pool). By default the first N test items in a fixed pseudo-random order, so a
    sample covers all subjects and a larger N contains every item of a smaller one (stored samples stay reusable);
    an evaluation with --limit takes the first N in dataset order (lm-eval's --limit), one with --items exactly those
    (in the file's order)."""
    tests = [i for i in items if i.split == "test"]
    fewshot = fewshot_rows(items)
    if evaluation is not None and evaluation.item_ids:
        by_id = {i.item_id: i for i in tests}
        unknown = unknown_items(evaluation.item_ids, by_id)
        if unknown:
            raise EvaluationError(f"{evaluation.dataset}: {len(unknown)} of the --items ids are not test items of "
                                  f"its snapshot (first: {unknown[0]!r})")
        return [by_id[i] for i in evaluation.item_ids], fewshot
    if evaluation is not None and evaluation.limit:
        return tests[: evaluation.limit], fewshot
    ordered = in_sample_order(items)
    return (ordered[:samples] if samples else ordered), fewshot


def fewshot_rows(items: Sequence[Item]) -> list[Item]:
    """A snapshot's rows that are not test items: where exemplars come from."""
    return [i for i in items if i.split != "test"]


def fewshot_pool(evaluation: Evaluation, snapshot_pool: Sequence[Item]) -> list[Item]:
    """The exemplars a run draws from: the run's file (--fewshot-from) or the snapshot's few-shot rows; checked
    against what the variant needs before any engine time is spent."""
    pool = list(snapshot_pool)
    if evaluation.fewshot_file:
        pool = evaluation.benchmark.fewshot_items_from_file(Path(evaluation.fewshot_file))
    spec = evaluation.spec
    if evaluation.benchmark.max_fewshot(spec) is None and len(pool) < spec.num_fewshot:
        raise EvaluationError(f"{evaluation.dataset} ({evaluation.profile}): {spec.num_fewshot} exemplars per item "
                              f"asked for, the few-shot pool has {len(pool)}; {FEWSHOT_POOL_HINT}")
    return pool


def probe_items(items: Sequence[Item]) -> list[Item]:
    """The items whose rendered requests enter the spec hash: fixed by the snapshot, whatever a run selects."""
    return in_sample_order(items)[:PROBE_ITEMS]


def recorded_requests(evaluation: Evaluation, items: Sequence[Item], fewshot: Sequence[Item]) -> list[Request]:
    """The requests the benchmark would send for `items` (no model involved)."""
    recorder = RecordingEngine()
    evaluation.benchmark.predict(spec_engine(recorder, evaluation.spec), items, evaluation.spec, fewshot)
    return recorder.requests


# ------------------------------------------------------------------------------------------------ identity


@dataclass(frozen=True)
class EngineContext:
    """Where predictions are computed: the backend build and device, and the engine settings of the model."""

    backend: str
    backend_version: str
    device: str

    @classmethod
    def installed(cls) -> EngineContext:
        device, backend, version = installed_backend()
        return cls(backend=backend, backend_version=version, device=device)


def expected_engine_fingerprint(registry: Registry, evaluation: Evaluation, context: EngineContext,
                                preset: str | None = None) -> dict[str, Any]:
    settings = registry.engine_settings(evaluation.model, preset)
    if evaluation.dtype:
        settings = settings.with_overrides(dtype=evaluation.dtype)
    return serving_fingerprint(settings, evaluation.spec.request_kind, backend=context.backend,
                               backend_version=context.backend_version, device=context.device)


def evaluation_identity(evaluation: Evaluation, *, items: Sequence[Item], chosen: Sequence[Item],
                        fewshot: Sequence[Item], weights_revision: str, dataset_version: str,
                        tokenizer: dict[str, Any], engine: dict[str, Any]) -> EvaluationIdentity:
    """The identity of evaluating `chosen` (of snapshot `items`) with these weights, tokenizer and engine."""
    digests = request_digests(recorded_requests(evaluation, chosen, fewshot))
    return EvaluationIdentity(
        model=evaluation.model, dataset=evaluation.dataset, profile=evaluation.profile,
        benchmark=evaluation.benchmark.name, variant=evaluation.variant, weights_revision=weights_revision,
        dataset_version=dataset_version,
        spec_hash=probe_spec_hash(evaluation, probe_items(items), fewshot, tokenizer),
        tokenizer_hash=fingerprint_hash(tokenizer), engine_hash=fingerprint_hash(engine),
        engine=_json(engine), item_ids=tuple(i.item_id for i in chosen),
        request_digests=tuple(digests.get(i.item_id, "") for i in chosen))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ------------------------------------------------------------------------------------------------ predictions


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


def matching_prediction(rows: Sequence[StoredPrediction], identity: EvaluationIdentity, item: Item,
                        digest: str) -> StoredPrediction | None:
    """The newest stored prediction of `item` computed from the same weights, engine, tokenizer, item content and
    requests as this evaluation: the only kind that may be reused (or scored) for it."""
    for row in reversed(rows):
        if (row.weights_revision == identity.weights_revision and row.engine_hash == identity.engine_hash
                and row.tokenizer_hash == identity.tokenizer_hash and row.item_hash == item_hash(item)
                and row.request_digest == digest):
            return row
    return None


def predict_pair(engine: InferenceEngine, evaluation: Evaluation, identity: EvaluationIdentity,
                 items: Sequence[Item], fewshot: Sequence[Item], lake: ResultsLake, *, run_id: str,
                 chunk_size: int = CHUNK_SIZE,
                 progress: Callable[[int, int], None] | None = None) -> PredictionStats:
    """Predict every item of the identity that has no matching stored prediction (see matching_prediction); each
    completed chunk is stored at once, so a killed run loses at most the chunk in flight. `items` are the identity's
    items, in its order."""
    if tuple(item.item_id for item in items) != identity.item_ids:
        raise ValueError("predict_pair: items differ from the identity's item list")
    digests = dict(zip(identity.item_ids, identity.request_digests, strict=True))
    stored = lake.stored_predictions(evaluation.model, evaluation.dataset, evaluation.profile)
    todo = [item for item in items
            if matching_prediction(stored.get(item.item_id, ()), identity, item, digests[item.item_id]) is None]
    stats = PredictionStats(requested=len(items), reused=len(items) - len(todo))
    done = stats.reused
    if progress:
        progress(done, len(items))
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        capture = CapturingEngine(engine)  # under the spec's rewriting: keeps the requests as sent
        began = time.perf_counter()
        predictions = evaluation.benchmark.predict(spec_engine(capture, evaluation.spec), chunk, evaluation.spec,
                                                   fewshot)
        elapsed = time.perf_counter() - began
        now = datetime.now(UTC)
        by_id = {item.item_id: item for item in chunk}
        sent = requests_by_item(capture.requests)
        lake.append_predictions([prediction_row(p, identity, by_id[p.item_id], digests[p.item_id],
                                                sent.get(p.item_id, []), run_id, now) for p in predictions])
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


def prediction_row(p: Prediction, identity: EvaluationIdentity, item: Item, digest: str,
                   requests: list[dict[str, Any]], run_id: str, created_at: datetime) -> dict[str, Any]:
    return {"model": identity.model, "dataset": identity.dataset, "profile": identity.profile,
            "spec_hash": identity.spec_hash, "item_id": p.item_id, "item_group": item.group,
            "item_hash": item_hash(item), "request_digest": digest, "request": _json(requests),
            "prompt_hash": p.prompt_hash, "outputs": list(p.outputs),
            "finish_reasons": [r or "" for r in p.finish_reasons], "logprobs": list(p.logprobs),
            "is_greedy": list(p.is_greedy), "tokens_in": p.tokens_in, "tokens_out": p.tokens_out,
            "latency_s": p.latency_s, "error": p.error, "run_id": run_id,
            "weights_revision": identity.weights_revision, "dataset_version": identity.dataset_version,
            "engine_hash": identity.engine_hash, "tokenizer_hash": identity.tokenizer_hash,
            "created_at": created_at}


# ------------------------------------------------------------------------------------------------ scores


class MissingPredictionsError(RuntimeError):
    pass


def score_pair(evaluation: Evaluation, identity: EvaluationIdentity, items: Sequence[Item], lake: ResultsLake, *,
               run_id: str, ctx: ScoringContext | None = None, judge: str = "",
               fixture: bool = False) -> list[MetricValue]:
    """Score exactly the identity's items, each from a prediction computed under that identity, and record the
    partition with the identity (and `judge`, JudgeChoice.describe, for a judged benchmark)."""
    by_id = {item.item_id: item for item in items}
    stored = lake.stored_predictions(evaluation.model, evaluation.dataset, evaluation.profile)
    found = {item_id: matching_prediction(stored.get(item_id, ()), identity, by_id[item_id], digest)
             for item_id, digest in zip(identity.item_ids, identity.request_digests, strict=True)}
    missing = [item_id for item_id, row in found.items() if row is None]
    if missing:
        raise MissingPredictionsError(
            f"{evaluation.model}/{evaluation.dataset} ({evaluation.profile}): {len(missing)} of "
            f"{len(identity.item_ids)} items have no prediction computed under this evaluation's identity "
            f"{identity.identity_hash} (first: {missing[0]}); materialize predictions_{evaluation.dataset} first")
    chosen = [by_id[item_id] for item_id in identity.item_ids]
    predictions = [row.prediction for row in found.values() if row is not None]
    scores = evaluation.benchmark.score(chosen, predictions, evaluation.spec, ctx)
    metrics = evaluation.benchmark.summarize(scores, evaluation.spec)
    state = PartitionState.of(identity, evaluation=evaluation_summary(evaluation), run_id=run_id,
                              materialized_at=datetime.now(UTC), judge=judge, fixture=fixture)
    lake.write_scores(identity, scores, metrics, primary=evaluation.primary_metric, state=state)
    return metrics


def evaluation_summary(evaluation: Evaluation) -> dict[str, Any]:
    """What reports show of how a result was evaluated."""
    spec = evaluation.spec
    return {"profile_label": evaluation.profile_label, "variant": evaluation.variant,
            "num_fewshot": spec.num_fewshot, "chat_template": spec.use_chat_template,
            "reference": spec.reference, "primary_metric": spec.primary_metric}


# ------------------------------------------------------------------------------------------------ freshness


@dataclass(frozen=True)
class PartitionStatus:
    model: str
    dataset: str
    status: str  # "fresh" | "stale" | "missing"
    reasons: tuple[str, ...] = ()
    samples: int = 0  # requested
    profile: str = DEFAULT_PROFILE

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "dataset": self.dataset, "profile": self.profile, "status": self.status,
                "reasons": list(self.reasons), "samples": self.samples}


def wanted_samples(registry: Registry, evaluation: Evaluation, samples: int | None, test_items: int | None) -> int:
    if evaluation.item_ids:
        return len(evaluation.item_ids)
    wanted = evaluation.limit or registry.requested_samples(valid_pair(registry, evaluation.model,
                                                                       evaluation.dataset), samples)
    return min(wanted, test_items) if test_items else wanted


def partition_status(registry: Registry, lake: ResultsLake, model: str, dataset: str,
                     choice: ProfileChoice = ProfileChoice(), samples: int | None = None,
                     judge: JudgeChoice | None = None, engine: EngineContext | None = None,
                     preset: str | None = None) -> PartitionStatus:
    """Fresh when the stored result of this profile has the identity a run would compute now (weights revision,
    dataset snapshot, spec hash, engine fingerprint) and at least the requested samples (and, for a judged
    benchmark, was judged by `judge` when it is a chosen one, see JudgeChoice); otherwise stale, with each reason."""
    evaluation = resolve_evaluation(registry, model, dataset, choice)
    snapshot = lake.current_snapshot(dataset)
    wanted = wanted_samples(registry, evaluation, samples, (snapshot or {}).get("test_items"))
    state = lake.partition_state(model, dataset, evaluation.profile)
    if state is None:
        return PartitionStatus(model, dataset, "missing", ("never evaluated",), wanted, evaluation.profile)
    reasons = []
    if snapshot and snapshot["content_hash"] != state.dataset_version:
        reasons.append(f"dataset snapshot changed ({state.dataset_version[:12]} -> {snapshot['content_hash'][:12]})")
    weights = lake.weights(model) or {}
    revision = registry.models[model].revision or weights.get("revision")
    if revision and revision != state.weights_revision:
        reasons.append(f"model revision changed ({state.weights_revision[:12]} -> {revision[:12]})")
    fingerprint = expected_engine_fingerprint(registry, evaluation, engine or EngineContext.installed(), preset)
    if fingerprint_hash(fingerprint) != state.engine_hash:
        reasons.append(f"engine changed ({_engine_change(state.engine, fingerprint)})")
    if snapshot and not reasons:
        try:
            current = current_spec_hash(evaluation, lake, snapshot, weights)
        except CorruptSnapshotError:  # moved aside, and said so
            current = None
            reasons.append(f"dataset snapshot {snapshot['path']} is unreadable: a run builds it again")
        if current is None and not reasons:
            reasons.append(f"no tokenizer fingerprint recorded for {model} (re-run to record it)")
        elif current is not None and current != state.spec_hash:
            reasons.append(f"spec changed ({state.spec_hash} -> {current}): prompt, exemplars, extraction, metric, "
                           "settings or chat template")
    if evaluation.benchmark.judged and judge is not None and judge.chosen:
        wanted_judge = judge.describe(registry, model)
        if state.judge != wanted_judge:
            reasons.append(f"judge changed ({state.judge or 'not recorded'} -> {wanted_judge})")
    if evaluation.item_ids and tuple(evaluation.item_ids) != state.item_ids:
        reasons.append("the item list changed")
    elif state.samples < wanted:
        reasons.append(f"{state.samples} samples stored, {wanted} requested")
    return PartitionStatus(model, dataset, "stale" if reasons else "fresh", tuple(reasons), wanted,
                           evaluation.profile)


def _engine_change(stored_json: str, now: dict[str, Any]) -> str:
    try:
        stored = json.loads(stored_json) if stored_json else {}
    except ValueError:
        stored = {}
    changed = [f"{key} {stored.get(key)!r} -> {value!r}" for key, value in now.items() if stored.get(key) != value]
    return ", ".join(changed) or "fingerprint differs"


def current_spec_hash(evaluation: Evaluation, lake: ResultsLake, snapshot: dict[str, Any],
                      weights: dict[str, Any]) -> str | None:
    """The spec hash a run would compute now, from the current snapshot's probe items and the tokenizer fingerprint
    the weights record holds; None when no fingerprint is recorded."""
    tokenizer = weights.get("tokenizer")
    if tokenizer is None:
        return None
    probes, rows = _snapshot_probes(snapshot["path"], snapshot["dataset"])
    return probe_spec_hash(evaluation, probes, fewshot_pool(evaluation, rows), tokenizer)


def probe_spec_hash(evaluation: Evaluation, probes: Sequence[Item], fewshot: Sequence[Item],
                    tokenizer: dict[str, Any]) -> str:
    """The spec hash: the spec, the requests rendered for the snapshot's probe items, and the tokenizer."""
    digests = request_digests(recorded_requests(evaluation, probes, fewshot))
    return spec_hash(evaluation.spec, [digests.get(p.item_id, "") for p in probes], tokenizer)


@lru_cache(maxsize=64)
def _snapshot_probes(path: str, dataset: str) -> tuple[list[Item], list[Item]]:
    """A snapshot's probe items and few-shot rows, once per process (a snapshot file never changes under its
    hash): checking freshness of every model on a dataset sorts its items once, not once per model."""
    from llmeval_assets.snapshots import snapshot_items

    items = snapshot_items({"path": path, "dataset": dataset})
    return probe_items(items), fewshot_rows(items)


def stale_work(registry: Registry, lake: ResultsLake, samples: int | None = None,
               models: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
               include_optional: bool = True, judge: JudgeChoice | None = None,
               choice: ProfileChoice = ProfileChoice()) -> dict[str, list[PartitionStatus]]:
    """Per model, the partitions of supported datasets that are stale or missing (what a run must materialize)."""
    work: dict[str, list[PartitionStatus]] = {}
    engine = EngineContext.installed()
    for pair in registry.pairs(include_optional=include_optional):
        if not registry.datasets[pair.dataset].supported:
            continue
        if (models is not None and pair.model not in models) or (datasets is not None and pair.dataset not in datasets):
            continue
        status = partition_status(registry, lake, pair.model, pair.dataset, choice, samples, judge, engine)
        if status.status != "fresh":
            work.setdefault(pair.model, []).append(status)
    return work
