"""What the vLLM engine hands vLLM for a request with images, checked without starting an engine: its chat-rendered
token ids and decoded images go through vLLM's own multimodal processor for the tiny random Idefics3 (a fixture),
which must expand each placeholder to that image's tokens."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from llmeval_assets.engine.requests import GenerateRequest, ImageInput, Sampling
from llmeval_assets.engine.tiny_vlm import IMAGE_TOKEN, IMAGE_TOKENS, save_tiny_idefics3
from llmeval_assets.engine.tokenization import RequestTokenizer
from tests.engine.conftest import cpu_settings


def png(colour: str, size: tuple[int, int]) -> ImageInput:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return ImageInput.from_bytes(buffer.getvalue())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_idefics3(tmp_path_factory.mktemp("tiny_vlm"))


def unstarted_engine(checkpoint: Path, **settings: object):
    """A VLLMEngine with its settings and tokenizer but no vLLM engine behind it (only its request side is used)."""
    from transformers import AutoTokenizer

    from llmeval_assets.engine.vllm_engine import VLLMEngine

    engine = object.__new__(VLLMEngine)
    engine.settings = cpu_settings("tiny_vlm", 512, **settings)
    engine._encoder = RequestTokenizer(AutoTokenizer.from_pretrained(checkpoint))
    return engine


def test_prompt_and_images_as_vllm_processes_them(checkpoint):
    from vllm.config import ModelConfig
    from vllm.multimodal import MULTIMODAL_REGISTRY

    engine = unstarted_engine(checkpoint, max_images_per_prompt=2, max_pixels=64 * 64)
    request = GenerateRequest("q", Sampling(), messages=({"role": "user", "content": "What colour?"},),
                              images=(png("red", (200, 100)), png("blue", (50, 50))))
    prompt, problem = engine._multimodal_prompt(request)
    assert problem is None
    images = prompt["multi_modal_data"]["image"]
    assert [image.size for image in images] == [(90, 45), (50, 50)]  # the first downscaled to max_pixels
    image_id = engine._encoder.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert prompt["prompt_token_ids"].count(image_id) == 2  # one placeholder per image, from the chat template

    config = ModelConfig(model=str(checkpoint), tokenizer=str(checkpoint), dtype="float32", max_model_len=512,
                         limit_mm_per_prompt={"image": 2})
    processor = MULTIMODAL_REGISTRY.create_processor(config)
    processed = processor(prompt["prompt_token_ids"], processor.info.parse_mm_data(prompt["multi_modal_data"]))
    expanded = processed["prompt_token_ids"]
    assert expanded.count(image_id) == 2 * IMAGE_TOKENS
    assert len(expanded) == len(prompt["prompt_token_ids"]) + 2 * (IMAGE_TOKENS + 2)


def test_a_model_without_vision_settings_refuses_images(checkpoint):
    engine = unstarted_engine(checkpoint)
    request = GenerateRequest("q", Sampling(), messages=({"role": "user", "content": "?"},),
                              images=(png("red", (8, 8)),))
    assert engine._multimodal_prompt(request) == (
        None, "model 'tiny_vlm' takes no images (its registry entry has no `vision`)")


def test_placeholder_text_for_templates_without_image_parts(checkpoint):
    engine = unstarted_engine(checkpoint, max_images_per_prompt=1, image_placeholder=f"{IMAGE_TOKEN}\n")
    request = GenerateRequest("q", Sampling(), messages=({"role": "user", "content": "Which?"},),
                              images=(png("red", (8, 8)),))
    prompt, _ = engine._multimodal_prompt(request)
    text = engine._encoder.tokenizer.decode(prompt["prompt_token_ids"])
    assert text == "<|im_start|>user\n<image>\nWhich?<|im_end|>\n<|im_start|>assistant\n"
