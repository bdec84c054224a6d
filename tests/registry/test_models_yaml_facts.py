"""Facts of registry/models.yaml that must not regress: every seed model is present under its seed key, each
entry passes the schema, the seed's known mistakes stay corrected, and every model's weights fit its GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmeval_assets.registry.schema import DType, ModelEntry, ModelKind, Quantization

MODELS_YAML = Path(__file__).resolve().parents[2] / "registry" / "models.yaml"

# The seed's configs/model_registry.py (52 keys, in its order), then its 5 merged-only configurations.
SEED_REGISTRY_KEYS = [
    "qwen3_8b", "qwen3_14b", "deepseek_coder_16b", "codestral_22b", "qwen3_coder_30b", "llama31_8b",
    "mistral_7b", "olmo2_13b", "yi_9b", "phi35_mini", "gemma2_9b", "claude_sonnet", "qwen25_math_7b",
    "wizardmath_70b", "qwen25_7b", "deepseek_math_7b", "metamath_70b", "biomistral_7b",
    "biomistral_7b_unquantized", "biomedlm_7b", "clinical_camel_70b", "medalpaca_7b", "medalpaca_13b", "biogpt",
    "bio_clinicalbert", "pubmedbert_large", "biogpt_large", "qwen2_vl_7b", "donut_base", "layoutlmv3_base",
    "scibert_base", "specter2_base", "longformer_large", "qwen25_0_5b", "qwen25_3b", "mistral_nemo_12b",
    "yi_1_5_34b", "safety_bert", "qwen25_vl_7b", "minicpm_v_26", "llava_next_vicuna_7b", "internvl2_8b",
    "qwen3_next_80b", "qwen3_30b_2507", "qwen3_4b_2507", "llama31_70b", "mixtral_8x7b",
    "deepseek_r1_distill_llama_70b", "starcoder2_15b", "gemma2_27b", "internlm2_20b", "llama32_vision_90b",
]
SEED_MERGED_ONLY_KEYS = [
    "qwen25_1_5b_genomic", "qwen25_72b_genomic", "granite_3_1_8b", "olmo2_13b_research", "clinical_t5_large",
]

# H100 80GB at the balanced preset's gpu_memory_utilization, minus the per-GPU runtime overhead.
GPU_MEMORY_GB = 80.0
BALANCED_GPU_MEMORY_UTILIZATION = 0.90
RUNTIME_OVERHEAD_GB = 2.0
UNQUANTIZED_BYTES_PER_PARAM = {DType.float32: 4.0, DType.bfloat16: 2.0, DType.float16: 2.0}


RAW_MODELS: dict[str, dict] = yaml.safe_load(MODELS_YAML.read_text())["models"]
KEYS_WITH_WEIGHTS = [key for key, raw in RAW_MODELS.items() if raw.get("kind") != ModelKind.api.value]


@pytest.fixture(scope="module")
def models() -> dict[str, ModelEntry]:
    return {key: ModelEntry.model_validate(raw) for key, raw in RAW_MODELS.items()}


def _weights_gb(model: ModelEntry) -> float:
    bits = model.quantization.bits_per_param
    bytes_per_param = bits / 8 if bits is not None else UNQUANTIZED_BYTES_PER_PARAM[model.dtype]
    return model.params_b * bytes_per_param


def test_holds_exactly_the_57_seed_keys_in_seed_order_then_smollm2():
    assert len(SEED_REGISTRY_KEYS) == 52 and len(SEED_MERGED_ONLY_KEYS) == 5
    assert list(RAW_MODELS) == SEED_REGISTRY_KEYS + SEED_MERGED_ONLY_KEYS + ["smollm2_135m"]


@pytest.mark.parametrize("key", list(RAW_MODELS))
def test_entry_passes_the_schema(key):
    ModelEntry.model_validate(RAW_MODELS[key])


def test_seed_aliases_resolve_to_the_qwen_keys(models):
    aliases = {alias: key for key, model in models.items() for alias in model.aliases}
    assert aliases == {
        "qwen_8b": "qwen3_8b",
        "qwen2.5_8b": "qwen3_8b",
        "qwen_14b": "qwen3_14b",
        "qwen2.5_14b": "qwen3_14b",
    }
    assert not set(aliases) & set(models), "an alias must not shadow a model key"


def test_misnamed_seed_keys_hold_the_true_checkpoint(models):
    assert models["qwen3_8b"].hf_id == "Qwen/Qwen2.5-7B-Instruct"
    assert models["qwen3_8b"].display_name == "Qwen2.5 7B Instruct"
    assert models["qwen3_14b"].hf_id == "Qwen/Qwen2.5-14B-Instruct-AWQ"
    assert models["biomedlm_7b"].params_b == 2.7
    assert models["qwen3_coder_30b"].hf_id == "Qwen/Qwen2.5-Coder-32B-Instruct"
    assert models["qwen3_coder_30b"].params_b == 32.5
    assert models["biogpt_large"].hf_id == "microsoft/BioGPT-Large"
    assert models["mistral_nemo_12b"].hf_id == "mistralai/Mistral-Nemo-Instruct-2407"
    assert models["yi_1_5_34b"].hf_id == "01-ai/Yi-1.5-34B-Chat"
    assert models["llama31_8b"].hf_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert models["llama31_70b"].hf_id == "meta-llama/Llama-3.1-70B-Instruct"


def test_misleading_seed_keys_are_noted(models):
    misnamed = ["qwen3_8b", "qwen3_14b", "qwen3_coder_30b", "biomedlm_7b", "pubmedbert_large"]
    for key in misnamed:
        assert any("seed key says" in note for note in models[key].notes), f"{key}: the misleading key is not noted"


def test_base_models_are_not_marked_instruct(models):
    for key in ["gemma2_27b", "starcoder2_15b", "biomedlm_7b", "biogpt", "biogpt_large"]:
        assert not models[key].instruct, f"{key} is a base model"
    assert any("google/gemma-2-27b-it" in note for note in models["gemma2_27b"].notes)


def test_only_the_r1_distill_is_a_reasoning_model(models):
    assert [key for key, model in models.items() if model.reasoning] == ["deepseek_r1_distill_llama_70b"]


def test_model_kinds(models):
    encoders = {"bio_clinicalbert", "pubmedbert_large", "layoutlmv3_base", "scibert_base", "specter2_base",
                "longformer_large", "safety_bert"}
    by_kind = {kind: {key for key, model in models.items() if model.kind is kind} for kind in ModelKind}
    assert by_kind[ModelKind.encoder] == encoders
    assert by_kind[ModelKind.encoder_decoder] == {"donut_base", "clinical_t5_large"}
    assert by_kind[ModelKind.api] == {"claude_sonnet"}
    assert by_kind[ModelKind.vision_language] == {"qwen2_vl_7b", "qwen25_vl_7b", "minicpm_v_26",
                                                  "llava_next_vicuna_7b", "internvl2_8b", "llama32_vision_90b"}
    claude = models["claude_sonnet"]
    assert claude.hf_id is None and claude.params_b is None


def test_mixture_of_experts_models_record_active_parameters(models):
    moe = {key: (model.params_b, model.active_params_b) for key, model in models.items() if model.is_moe}
    assert moe == {
        "deepseek_coder_16b": (15.7, 2.4),
        "qwen3_next_80b": (80.0, 3.0),
        "qwen3_30b_2507": (30.5, 3.3),
        "mixtral_8x7b": (46.7, 12.9),
    }


@pytest.mark.parametrize("key", KEYS_WITH_WEIGHTS)
def test_quantization_matches_the_checkpoint(models, key):
    # The seed set quantization=awq on plain checkpoints (seed_system.md §12); vLLM then fails to load them.
    model = models[key]
    is_awq_repo = model.hf_id.upper().endswith("-AWQ") or "-AWQ-" in model.hf_id.upper()
    is_awq = model.quantization in (Quantization.awq, Quantization.awq_marlin)
    assert is_awq == is_awq_repo, f"{key}: quantization {model.quantization.value} for {model.hf_id}"
    if is_awq:
        assert model.dtype is DType.float16, f"{key}: vLLM's AWQ kernels need float16"


@pytest.mark.parametrize("key", KEYS_WITH_WEIGHTS)
def test_gated_publishers_are_marked_gated(models, key):
    model = models[key]
    if model.hf_id.startswith(("meta-llama/", "google/gemma-", "mistralai/")):
        assert model.gated, f"{key}: {model.hf_id} requires accepting terms on the hub"


@pytest.mark.parametrize("key", list(RAW_MODELS))
def test_evaluation_context_fits_the_checkpoint(models, key):
    model = models[key]
    if model.max_model_len is not None:
        assert model.max_model_len <= model.context_window, key


@pytest.mark.parametrize("key", KEYS_WITH_WEIGHTS)
def test_tensor_parallel_size_is_a_power_of_two_that_holds_the_weights(models, key):
    model = models[key]
    tp = model.tensor_parallel_size
    assert tp & (tp - 1) == 0, f"{key}: tensor_parallel_size {tp} is not a power of two"
    utilization = model.gpu_memory_utilization or BALANCED_GPU_MEMORY_UTILIZATION
    usable_gb = tp * (GPU_MEMORY_GB * utilization - RUNTIME_OVERHEAD_GB)
    assert _weights_gb(model) <= usable_gb, (
        f"{key}: {_weights_gb(model):.1f} GB of weights exceed {usable_gb:.1f} GB usable on {tp} x H100 80GB"
    )


def test_seed_tensor_parallel_mistakes_stay_fixed(models):
    # Unquantized ~70B checkpoints the seed ran with TP 1 (seed_system.md §14).
    for key in ["metamath_70b", "clinical_camel_70b"]:
        assert models[key].quantization is Quantization.none
        assert models[key].tensor_parallel_size == 4, key
