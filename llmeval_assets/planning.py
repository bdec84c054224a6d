"""What an evaluation would run: the (model, dataset) partitions of a selection with the profile and variant each
runs under, samples per partition, GPUs and memory per model, request counts and a rough time estimate. Registry
and benchmark logic only (no Dagster, no engine), so `llmeval plan` answers instantly; the pipeline adds each
partition's freshness (fresh / stale / missing)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from llmeval_assets.engine.weights import not_evaluable_reason
from llmeval_assets.evaluation import EvaluationError, resolve_evaluation, wanted_samples
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.registry import Pair, Registry, UnknownNameError
from llmeval_assets.registry.hardware import check_fit

# Rough single-H100 throughput of an 8B dense model under vLLM with a full batch; scaled by active parameters and
# tensor parallelism. Only for ordering-of-magnitude estimates in plans.
_PREFILL_TOKENS_PER_S_8B = 20_000.0
_DECODE_TOKENS_PER_S_8B = 2_500.0
_LOAD_GB_PER_S = 1.5
_ENGINE_START_S = 45.0


@dataclass(frozen=True)
class PlannedPartition:
    model: str
    dataset: str
    samples: int
    category: str  # whose settings apply
    optional: bool
    requests: int
    est_seconds: float
    profile: str  # what its results are stored under (a profile name, or name~digest with run-level overrides)
    profile_label: str
    variant: str
    num_fewshot: int
    chat_template: bool
    conflicts: tuple[str, ...] = ()  # category settings the variant fixes otherwise (the variant's are kept)
    backend: str = "vllm"  # the engine that serves it (EngineSettings.backend_for its request kind)


@dataclass(frozen=True)
class PlannedModel:
    key: str
    hf_id: str | None
    tensor_parallel_size: int
    gpus: int  # tensor_parallel_size x pipeline_parallel_size
    min_gpus: int | None
    gpu_memory_utilization: float
    max_model_len: int
    weights_gb: float
    fits: bool
    datasets: tuple[str, ...]
    est_seconds: float  # engine load + all its partitions


@dataclass(frozen=True)
class Skipped:
    model: str | None
    dataset: str | None
    reason: str


@dataclass
class Plan:
    preset: str
    gpu: str
    partitions: list[PlannedPartition] = field(default_factory=list)
    models: list[PlannedModel] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def est_seconds(self) -> float:
        return sum(m.est_seconds for m in self.models)

    def as_dict(self) -> dict:
        return {
            "preset": self.preset,
            "gpu": self.gpu,
            "partitions": [asdict(p) for p in self.partitions],
            "models": [asdict(m) for m in self.models],
            "skipped": [asdict(s) for s in self.skipped],
            "total": {"partitions": len(self.partitions), "models": len(self.models),
                      "requests": sum(p.requests for p in self.partitions),
                      "gpu_hours": round(sum(m.est_seconds * m.gpus for m in self.models) / 3600, 2),
                      "est_seconds": round(self.est_seconds, 1)},
        }


class PlanError(ValueError):
    pass


def selected_pairs(registry: Registry, category: str | None, model: str | None, dataset: str | None,
                   include_optional: bool, everything: bool = False) -> tuple[list[Pair], list[Skipped]]:
    """The pairs a selection asks for, plus what it names but cannot run (unsupported datasets, removed models)."""
    if everything and (category or model):
        raise PlanError("--all selects every category and model: do not combine it with --category or --model")
    if not category and not model and not everything:
        raise PlanError("choose --category, --model or --all")
    cat_name = registry.resolve_category(category) if category else None
    model_key = registry.resolve_model(model) if model else None
    dataset_key = registry.resolve_dataset(dataset) if dataset else None
    if model_key and cat_name and model_key not in registry.categories[cat_name].models:
        reason = registry.categories[cat_name].removed_models.get(model_key, "not a member")
        raise PlanError(f"model {model_key!r} is not evaluated in category {cat_name!r}: {reason}")

    def wanted(cat: str, optional: bool) -> bool:
        return (cat_name is None or cat == cat_name) and (include_optional or not optional)

    requested: dict[tuple[str, str], None] = {}
    skipped: list[Skipped] = []
    for name, cat in registry.categories.items():
        for optional, refs in ((False, cat.primary_datasets), (True, cat.optional_datasets)):
            if not wanted(name, optional):
                continue
            for ref in refs:
                d = registry.resolve_dataset(ref)
                if dataset_key and d != dataset_key:
                    continue
                members = [m for m in cat.models if model_key in (None, m)]
                if not registry.datasets[d].supported:
                    if members:
                        skipped.append(Skipped(None, d, f"unsupported: {registry.datasets[d].reason}"))
                    continue
                for m in members:
                    requested.setdefault((m, d), None)
        if wanted(name, False) and model_key is None:
            skipped.extend(Skipped(m, None, f"removed from {name}: {why}") for m, why in cat.removed_models.items())
    if model_key and not cat_name:
        skipped.extend(Skipped(model_key, None, f"removed from {c}: {why}")
                       for c, why in registry.removed_from(model_key).items())
    if dataset_key and not requested and not skipped:
        scope = f"category {cat_name!r}" if cat_name else f"model {model_key!r}"
        hint = "" if include_optional else " (add --include-optional to include optional datasets)"
        raise PlanError(f"dataset {dataset_key!r} is not among the datasets of {scope}{hint}")
    pairs = [registry.pairs_by_key[key] for key in sorted(requested)]
    return pairs, list(dict.fromkeys(skipped))


def build_plan(registry: Registry, *, category: str | None = None, model: str | None = None,
               dataset: str | None = None, samples: int | None = None, preset: str | None = None,
               include_optional: bool = False, gpu: str | None = None, everything: bool = False,
               choice: ProfileChoice = ProfileChoice()) -> Plan:
    if samples is not None and samples <= 0:
        raise PlanError(f"--samples must be positive (got {samples})")
    gpu_name = gpu or registry.hardware.default_gpu
    if gpu_name not in registry.hardware.gpus:
        raise UnknownNameError(f"unknown GPU type {gpu_name!r}; known: {', '.join(registry.hardware.gpus)}")
    if preset is not None:
        registry.resolve_preset(preset)
    pairs, skipped = selected_pairs(registry, category, model, dataset, include_optional, everything)
    if not pairs:
        raise PlanError(f"nothing to run: {nothing_to_run(registry, model, skipped)}")
    plan = Plan(preset=preset or "per-model", gpu=gpu_name, skipped=skipped)

    by_model: dict[str, list[PlannedPartition]] = {}
    for pair in pairs:
        ds = registry.datasets[pair.dataset]
        try:
            evaluation = resolve_evaluation(registry, pair.model, pair.dataset, choice)
        except EvaluationError as exc:
            raise PlanError(str(exc)) from None
        n = wanted_samples(registry, evaluation, samples, ds.n_items)
        requests = round(n * ds.estimate.requests_per_item)
        spec = evaluation.spec
        part = PlannedPartition(pair.model, pair.dataset, n, pair.category, pair.optional, requests,
                                _partition_seconds(registry, pair.model, pair.dataset, n), evaluation.profile,
                                evaluation.profile_label, evaluation.variant, spec.num_fewshot,
                                spec.use_chat_template, evaluation.conflicts,
                                registry.engine_settings(pair.model, preset).backend_for(spec.request_kind))
        by_model.setdefault(pair.model, []).append(part)
        plan.partitions.append(part)

    gpu_type = registry.hardware.gpus[gpu_name]
    for key, parts in by_model.items():
        m = registry.models[key]
        settings = registry.engine_settings(key, preset)
        fit = check_fit(m, m.gpus, settings.gpu_memory_utilization, gpu_type,
                        registry.hardware.runtime_overhead_gb)
        load_s = _ENGINE_START_S + fit.weights_gb / _LOAD_GB_PER_S
        plan.models.append(PlannedModel(
            key=key, hf_id=m.hf_id, tensor_parallel_size=settings.tensor_parallel_size, gpus=m.gpus,
            min_gpus=fit.min_tensor_parallel_size, gpu_memory_utilization=settings.gpu_memory_utilization,
            max_model_len=settings.max_model_len, weights_gb=round(fit.weights_gb, 1), fits=fit.fits,
            datasets=tuple(p.dataset for p in parts), est_seconds=round(load_s + sum(p.est_seconds for p in parts), 1)))
    return plan


def nothing_to_run(registry: Registry, model: str | None, skipped: list[Skipped]) -> str:
    """Why a selection holds no pair: what it names but cannot run, or a model that no category evaluates."""
    reasons = [f"{'/'.join(n for n in (s.model, s.dataset) if n)}: {s.reason}" for s in skipped]
    key = registry.resolve_model(model) if model else None
    if key and not reasons:
        entry = registry.models[key]
        reasons.append(f"model {key!r} is in no category, so no dataset is chosen for it (add it to a category in "
                       "registry/categories.yaml)")
        if not entry.kind.can_generate:
            reasons.append(f"{key}: {not_evaluable_reason(entry)}")
    return "; ".join(reasons) or "the selection holds no (model, dataset) pair"


def _partition_seconds(registry: Registry, model_key: str, dataset: str, samples: int) -> float:
    m = registry.models[model_key]
    est = registry.datasets[dataset].estimate
    active = m.active_params_b or m.params_b or 8.0
    scale = (8.0 / active) * m.gpus ** 0.8
    requests = samples * est.requests_per_item
    prefill = requests * est.prompt_tokens / (_PREFILL_TOKENS_PER_S_8B * scale)
    decode = requests * est.output_tokens / (_DECODE_TOKENS_PER_S_8B * scale)
    return round(prefill + decode, 1)
