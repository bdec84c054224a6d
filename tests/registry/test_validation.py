"""Each registry rule, on a copy of the shipped registry broken in exactly one place, with the exact message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmeval_assets.registry import UnknownModelError, load_registry
from tests.registry_edits import SHIPPED, edit, problems


@pytest.fixture
def reg_dir(tmp_path: Path) -> Path:
    target = tmp_path / "registry"
    shutil.copytree(SHIPPED, target)
    return target


def test_shipped_registry_is_valid_with_only_uncategorized_warnings():
    reg = load_registry(SHIPPED)
    assert len(reg.categories) == 11
    assert all("in no category" in w for w in reg.warnings)
    assert {w.split(":")[1].strip() for w in reg.warnings} == {
        "claude_sonnet", "qwen3_4b_2507", "qwen25_1_5b_genomic", "qwen25_72b_genomic", "granite_3_1_8b",
        "clinical_t5_large"}  # olmo2_13b_research left the list: scientific_research evaluates it


def test_yaml_duplicate_key_is_an_error(reg_dir):
    text = (reg_dir / "models.yaml").read_text()
    dup = "  llama31_8b:\n    display_name: Llama 3.1 8B AWQ (second definition)\n"
    (reg_dir / "models.yaml").write_text(text + dup)
    [message] = problems(reg_dir)
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("  llama31_8b:"))
    again = len(text.splitlines()) + 1
    assert message == (f"models.yaml: line {again}: duplicate key 'llama31_8b' (first defined on line {first}); "
                       f"YAML would silently keep only the last one")


def test_duplicate_model_in_category(reg_dir):
    edit(reg_dir, "categories.yaml",
         lambda d: d["categories"]["general_purpose"]["models"].append("llama31_8b"))
    assert problems(reg_dir) == ["categories.yaml: general_purpose.models: model 'llama31_8b' is listed twice"]


def test_duplicate_dataset_through_alias(reg_dir):
    edit(reg_dir, "categories.yaml",
         lambda d: d["categories"]["coding_specialists"]["optional_datasets"].append("repo_bench"))
    assert problems(reg_dir) == [
        "categories.yaml: coding_specialists.optional_datasets: dataset 'repobench' (as 'repo_bench', an alias) "
        "is already listed in optional_datasets"]


def test_alias_collision_with_another_models_alias(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["qwen3_14b"]["aliases"].append("qwen_8b"))
    assert problems(reg_dir) == ["models.yaml: qwen3_14b.aliases: alias 'qwen_8b' already names 'qwen3_8b'"]


def test_alias_collision_with_a_key(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["qwen3_14b"]["aliases"].append("qwen25_7b"))
    assert problems(reg_dir) == [
        "models.yaml: qwen3_14b.aliases: alias 'qwen25_7b' collides with the key of another entry ('qwen25_7b')"]


def test_unknown_model_reference_suggests_close_match(reg_dir):
    edit(reg_dir, "categories.yaml", lambda d: d["categories"]["coding_specialists"]["models"].append("qwen3_9b"))
    assert problems(reg_dir) == [
        "categories.yaml: coding_specialists.models: unknown model 'qwen3_9b' (did you mean 'qwen3_8b', "
        "'qwen3_14b', 'qwen25_7b'?)"]


def test_unknown_dataset_reference(reg_dir):
    edit(reg_dir, "categories.yaml",
         lambda d: d["categories"]["general_purpose"]["primary_datasets"].append("hellaswagg"))
    assert problems(reg_dir) == [
        "categories.yaml: general_purpose.primary_datasets: unknown dataset 'hellaswagg' (did you mean 'hellaswag'?)"]


def test_encoder_in_generative_category(reg_dir):
    def put_back(d):
        cat = d["categories"]["biomedical_specialists"]
        del cat["removed_models"]["bio_clinicalbert"]
        cat["models"].append("bio_clinicalbert")
    edit(reg_dir, "categories.yaml", put_back)
    assert problems(reg_dir) == [
        "categories.yaml: biomedical_specialists.models: 'bio_clinicalbert' is a encoder model but bc5cdr, bioasq, "
        "biomedical_extended, biomedical_sample, chemprot, ddi, genomics_ner, mediqa, medmcqa, medqa, mmlu_medical, "
        "pubmedqa, scierc need generation and log-likelihood scoring; move it to removed_models with the reason"]


def test_api_model_where_loglikelihood_is_needed(reg_dir):
    edit(reg_dir, "categories.yaml", lambda d: d["categories"]["general_purpose"]["models"].append("claude_sonnet"))
    assert problems(reg_dir) == [
        "categories.yaml: general_purpose.models: 'claude_sonnet' is a api model but arc_challenge, gsm8k, hellaswag, "
        "humaneval, mmlu, mt_bench, truthfulness_fixed need generation and log-likelihood scoring; move it to "
        "removed_models with the reason"]


def test_vision_language_model_cannot_score_loglikelihood(reg_dir):
    edit(reg_dir, "categories.yaml", lambda d: d["categories"]["general_purpose"]["models"].append("qwen2_vl_7b"))
    assert problems(reg_dir) == [
        "categories.yaml: general_purpose.models: 'qwen2_vl_7b' is a vision_language model but arc_challenge, "
        "hellaswag, mmlu need log-likelihood scoring; move it to removed_models with the reason"]


def test_tensor_parallel_not_power_of_two(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_70b"].update(tensor_parallel_size=3))
    assert problems(reg_dir) == [
        "models.yaml: llama31_70b.tensor_parallel_size: 3 is not a power of two (vLLM splits attention heads evenly)"]


def test_tensor_parallel_beyond_node(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_70b"].update(tensor_parallel_size=16))
    assert problems(reg_dir) == [
        "models.yaml: llama31_70b.tensor_parallel_size: 16 exceeds the 8 GPUs of one H100-80GB node"]


def test_weights_do_not_fit(reg_dir):
    # The seed ran unquantized MetaMath-70B on one GPU.
    edit(reg_dir, "models.yaml", lambda d: d["models"]["metamath_70b"].update(tensor_parallel_size=1))
    assert problems(reg_dir) == [
        "models.yaml: metamath_70b.tensor_parallel_size: weights need 138.0 GB (69B params x 2 bytes, bfloat16) but "
        "1 x H100-80GB at gpu_memory_utilization 0.90 leaves 70.0 GB (2 GB runtime overhead per GPU); use "
        "tensor_parallel_size >= 2"]


def test_fit_follows_the_configured_gpu_type(reg_dir):
    edit(reg_dir, "hardware.yaml", lambda d: d["hardware"].update(default_gpu="A100-40GB"))
    found = problems(reg_dir)
    assert ("models.yaml: llama31_70b.tensor_parallel_size: weights need 141.2 GB (70.6B params x 2 bytes, bfloat16) "
            "but 4 x A100-40GB at gpu_memory_utilization 0.90 leaves 136.0 GB (2 GB runtime overhead per GPU); use "
            "tensor_parallel_size >= 8") in found


def test_max_model_len_above_context_window(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["olmo2_13b"].update(max_model_len=8192))
    assert problems(reg_dir) == [
        "models.yaml: olmo2_13b.max_model_len: 8192 exceeds the model's context_window 4096"]


def test_the_transformers_loglikelihood_backend_needs_one_device_and_no_quantization(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_70b"].update(preset="loglikelihood_fast"))
    assert problems(reg_dir) == [
        "models.yaml: llama31_70b.preset: preset 'loglikelihood_fast' scores log-likelihoods with the transformers "
        "backend, which loads unquantized weights on one device; this model has 4 GPU(s) and quantization 'none'"]


def test_unknown_preset(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["mistral_7b"].update(preset="speed"))
    assert problems(reg_dir) == [
        "models.yaml: mistral_7b.preset: unknown preset 'speed'; known: balanced, loglikelihood_fast, "
        "memory_optimized, performance"]


def test_schema_error_names_file_key_field(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["mistral_7b"].update(tensor_paralel_size=2))
    assert problems(reg_dir) == ["models.yaml: mistral_7b.tensor_paralel_size: unknown field (typo?)"]


def test_several_problems_reported_together_and_nothing_loaded(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: (d["models"]["llama31_70b"].update(tensor_parallel_size=3),
                                            d["models"]["olmo2_13b"].update(max_model_len=8192)))
    assert len(problems(reg_dir)) == 2


def test_model_in_no_category_is_a_warning_not_an_error(reg_dir):
    edit(reg_dir, "categories.yaml", lambda d: d["categories"]["general_purpose"]["models"].remove("yi_9b"))
    reg = load_registry(reg_dir)
    assert ("models.yaml: yi_9b: in no category (add it to one to evaluate it: categories choose its "
            "datasets)") in reg.warnings


def test_aliases_resolve_and_unknown_names_suggest():
    reg = load_registry(SHIPPED)
    assert reg.resolve_model("qwen2.5_8b") == "qwen3_8b"
    assert reg.resolve_model("qwen_14b") == "qwen3_14b"
    assert reg.resolve_dataset("math_competition") == "math"
    with pytest.raises(UnknownModelError, match="did you mean 'llama31_8b'"):
        reg.resolve_model("llama31_8")


def test_presets_apply_to_a_copy_and_model_values_win(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["mistral_7b"].update(gpu_memory_utilization=0.8))
    reg = load_registry(reg_dir)
    perf = reg.engine_settings("llama31_8b", "performance")
    mem = reg.engine_settings("llama31_8b", "memory_optimized")
    again = reg.engine_settings("llama31_8b", "performance")
    assert (perf.gpu_memory_utilization, perf.max_num_seqs) == (0.95, 256)
    assert (mem.gpu_memory_utilization, mem.max_num_seqs, mem.max_model_len) == (0.75, 32, 8192)
    assert again == perf  # no compounding: the seed halved batch sizes on every application
    assert reg.engine_settings("llama31_8b").preset == "balanced"
    assert reg.engine_settings("mistral_7b", "performance").gpu_memory_utilization == 0.8
    with pytest.raises(ValueError, match="unknown preset 'speed'"):
        reg.engine_settings("llama31_8b", "speed")
