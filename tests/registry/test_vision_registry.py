"""Vision-language models in the registry: what the engine needs is declared, checked, fingerprinted and counted
in the memory estimate; image datasets refuse text-only models."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from llmeval_assets.engine.fingerprint import engine_fingerprint
from llmeval_assets.registry import load_registry
from llmeval_assets.registry.hardware import weights_gb
from llmeval_assets.registry.schema import ModelKind, Quantization
from tests.registry_edits import SHIPPED, edit, problems

MULTIMODAL = ("qwen2_vl_7b", "qwen25_vl_7b", "minicpm_v_26", "llava_next_vicuna_7b", "internvl2_8b",
              "llama32_vision_90b")


@pytest.fixture
def reg_dir(tmp_path: Path) -> Path:
    target = tmp_path / "registry"
    shutil.copytree(SHIPPED, target)
    return target


def test_every_vision_model_declares_what_the_engine_needs():
    registry = load_registry(SHIPPED)
    vision_models = {key for key, m in registry.models.items() if m.kind is ModelKind.vision_language}
    assert vision_models == set(MULTIMODAL)
    for key in MULTIMODAL:
        vision = registry.models[key].vision
        assert vision is not None and vision.max_images_per_prompt >= 1 and vision.max_pixels
    # templates without image parts name their placeholder; remote-code processors say so
    assert registry.models["internvl2_8b"].vision.image_placeholder == "<image>\n"
    assert registry.models["minicpm_v_26"].vision.trust_remote_code


def test_text_only_model_in_an_image_category_is_refused(reg_dir):
    edit(reg_dir, "categories.yaml",
         lambda d: d["categories"]["multimodal_processing"]["models"].append("llama31_8b"))
    assert problems(reg_dir) == [
        "categories.yaml: multimodal_processing.models: 'llama31_8b' is a decoder model but ai2d, chartqa, docvqa, "
        "scienceqa, textvqa need image inputs (a vision_language model); move it to removed_models with the reason"]


def test_vision_model_without_vision_settings_is_refused(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["qwen2_vl_7b"].pop("vision"))
    [message] = problems(reg_dir)
    assert message.startswith("models.yaml: qwen2_vl_7b")
    assert "a vision_language model declares `vision`" in message


def test_vision_settings_on_a_text_model_are_refused(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_8b"].update(
        vision={"max_images_per_prompt": 1, "tower_params_b": 0.3}))
    [message] = problems(reg_dir)
    assert "`vision` is only for vision_language models; this one is decoder" in message


def test_memory_estimate_keeps_the_vision_tower_in_its_dtype():
    model = load_registry(SHIPPED).models["qwen2_vl_7b"]
    assert weights_gb(model) == pytest.approx(8.3 * 2.0)
    # an AWQ checkpoint quantizes the language model only: the 0.68B tower stays in bfloat16
    awq = model.model_copy(update={"quantization": Quantization.awq})
    assert weights_gb(awq) == pytest.approx((8.3 - 0.68) * 4.25 / 8 + 0.68 * 2.0)


def test_engine_fingerprint_includes_vision_settings_and_text_models_keep_theirs():
    registry = load_registry(SHIPPED)
    vision = registry.engine_settings("qwen2_vl_7b")
    text = registry.engine_settings("llama31_8b")
    fingerprint = engine_fingerprint(vision, backend="vllm", backend_version="0", device="cuda")
    assert fingerprint["vision"] == {"max_images_per_prompt": 4, "max_pixels": 1003520,
                                     "mm_processor_kwargs": (("max_pixels", 1003520), ("min_pixels", 200704)),
                                     "image_placeholder": None, "trust_remote_code": False}
    smaller = replace(vision, max_pixels=501760)
    assert engine_fingerprint(smaller, backend="vllm", backend_version="0", device="cuda") != fingerprint
    assert "vision" not in engine_fingerprint(text, backend="vllm", backend_version="0", device="cuda")


def test_plan_for_the_multimodal_category_lists_every_model_with_gpus_and_memory():
    from llmeval_assets.planning import build_plan

    plan = build_plan(load_registry(SHIPPED), category="multimodal_processing", include_optional=True)
    pairs = {(p.model, p.dataset) for p in plan.partitions}
    assert pairs == {(m, d) for m in MULTIMODAL for d in ("docvqa", "ai2d", "scienceqa", "chartqa", "textvqa")}
    models = {m.key: m for m in plan.models}
    assert models["llama32_vision_90b"].gpus == 4 and models["llama32_vision_90b"].fits
    assert models["llama32_vision_90b"].weights_gb == pytest.approx(88.6 * 2, abs=0.1)
    assert all(models[m].gpus == 1 and models[m].fits for m in MULTIMODAL if m != "llama32_vision_90b")
    assert [s.dataset for s in plan.skipped if s.dataset] == ["multimodal_sample"]
