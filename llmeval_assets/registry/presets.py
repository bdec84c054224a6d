"""Engine settings of a model under a preset.

The seed system mutated a shared config object when applying a preset, so presets compounded across tasks and
`balanced` could not undo a declared `performance`. Here a preset is applied to a *copy*: `engine_settings()`
returns a new frozen value each time, computed from the registry entry, the preset, and explicit overrides, in
that order of increasing precedence (a model's own explicit value beats its preset's)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from llmeval_assets.registry.schema import ModelEntry, PresetEntry

LOGLIKELIHOOD_REQUEST_KINDS = ("loglikelihood", "choice")


@dataclass(frozen=True)
class EngineSettings:
    """Everything the inference engine needs to load one model. Passed to vLLM's LLM(...) by the engine."""

    model_key: str
    hf_id: str | None
    revision: str | None
    dtype: str
    quantization: str | None  # None = unquantized (vLLM's `quantization=None`)
    tensor_parallel_size: int
    gpu_memory_utilization: float
    max_model_len: int
    max_num_seqs: int
    enable_prefix_caching: bool
    enforce_eager: bool
    swap_space_gb: float
    preset: str
    pipeline_parallel_size: int = 1  # GPUs = tensor_parallel_size x this; > 1 runs vLLM on Ray
    seed: int = 1234
    # Generation requests read the prefix cache: faster shared few-shot prefixes, but a prompt computed partly from
    # cached blocks takes other kernels than one computed whole, so greedy outputs can differ run to run.
    generation_prefix_cache: bool = False
    # vision-language models only (registry `vision`); 0 images: a text-only model
    max_images_per_prompt: int = 0
    max_pixels: int | None = None
    mm_processor_kwargs: tuple[tuple[str, Any], ...] = ()  # sorted (name, value)
    image_placeholder: str | None = None
    trust_remote_code: bool = False
    loglikelihood_backend: str = "vllm"  # "vllm" | "transformers", see PresetEntry

    def backend_for(self, request_kind: str) -> str:
        """The engine backend that serves a dataset whose variant sends `request_kind` requests."""
        if request_kind in LOGLIKELIHOOD_REQUEST_KINDS:
            return self.loglikelihood_backend
        return "vllm"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> EngineSettings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown engine setting(s) {unknown}; known: {sorted(known)}")
        return replace(self, **overrides)


def engine_settings(key: str, model: ModelEntry, preset_name: str, preset: PresetEntry) -> EngineSettings:
    cap = preset.max_model_len_cap
    wanted_len = model.max_model_len or model.context_window
    return EngineSettings(
        model_key=key,
        hf_id=model.hf_id,
        revision=model.revision,
        dtype=model.dtype.value,
        quantization=None if model.quantization.value == "none" else model.quantization.value,
        tensor_parallel_size=model.tensor_parallel_size,
        pipeline_parallel_size=model.pipeline_parallel_size,
        gpu_memory_utilization=model.gpu_memory_utilization or preset.gpu_memory_utilization,
        max_model_len=min(wanted_len, cap) if cap else wanted_len,
        max_num_seqs=model.max_num_seqs or preset.max_num_seqs,
        enable_prefix_caching=preset.enable_prefix_caching,
        enforce_eager=preset.enforce_eager,
        swap_space_gb=preset.swap_space_gb,
        preset=preset_name,
        generation_prefix_cache=preset.generation_prefix_cache,
        loglikelihood_backend=preset.loglikelihood_backend,
        **vision_settings(model),
    )


def vision_settings(model: ModelEntry) -> dict[str, Any]:
    """The engine settings a vision-language model's `vision` entry gives (none for a text-only model)."""
    vision = model.vision
    if vision is None:
        return {}
    return {"max_images_per_prompt": vision.max_images_per_prompt, "max_pixels": vision.max_pixels,
            "mm_processor_kwargs": tuple(sorted(vision.processor_kwargs.items())),
            "image_placeholder": vision.image_placeholder, "trust_remote_code": vision.trust_remote_code}
