"""How a request's images join its conversation, the same way for every backend.

A request's images belong to its last user turn, before the turn's text (lmms-eval's order for the benchmarks here).
- For a chat template that renders image content parts (Qwen2-VL, LLaVA-NeXT, Llama 3.2 Vision, Idefics3 and most
  hub templates), that turn becomes parts: one `{"type": "image"}` per image, then `{"type": "text"}`; the model's
  own template writes its placeholders, which vLLM's processor expands to the image's tokens.
- For a model whose template takes text only (MiniCPM-V, InternVL2), the registry names the placeholder text
  (`vision.image_placeholder`), written once per image before the text.
- An OpenAI-compatible server gets image_url parts carrying the bytes as a data URL (its template does the rest).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from llmeval_assets.engine.requests import ImageInput, Message


class ImageInputError(ValueError):
    """An image a request carries cannot be used (unreadable bytes, more images than the model takes)."""


def last_user_turn(messages: Sequence[Message], request_id: str) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    raise ImageInputError(f"request {request_id}: images need a user turn to go with")


def with_images(messages: Sequence[Message], images: Sequence[ImageInput], request_id: str, *,
                placeholder: str | None = None, data_urls: bool = False) -> list[dict[str, Any]]:
    """`messages` with `images` in the last user turn: content parts ({"type": "image"}, or image_url parts with
    data URLs), or with `placeholder` text once per image before the turn's text."""
    turns: list[dict[str, Any]] = [dict(message) for message in messages]
    index = last_user_turn(messages, request_id)
    text = turns[index]["content"]
    if placeholder is not None:
        turns[index]["content"] = placeholder * len(images) + text
        return turns
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": data_url(image.data)}} if data_urls else {"type": "image"}
        for image in images
    ]
    turns[index]["content"] = [*parts, {"type": "text", "text": text}]
    return turns


def data_url(data: bytes) -> str:
    return f"data:{image_mime(data)};base64,{base64.b64encode(data).decode()}"


def image_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def decode_image(image: ImageInput, max_pixels: int | None = None) -> Any:
    """The image as an RGB PIL image, downscaled (aspect kept) to at most `max_pixels` pixels when given."""
    from PIL import Image, UnidentifiedImageError

    try:
        opened = Image.open(io.BytesIO(image.data))
        opened.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageInputError(f"image {image.image_id}: unreadable ({exc})") from exc
    decoded = opened.convert("RGB")
    if max_pixels and decoded.width * decoded.height > max_pixels:
        scale = (max_pixels / (decoded.width * decoded.height)) ** 0.5
        size = (max(1, int(decoded.width * scale)), max(1, int(decoded.height * scale)))
        decoded = decoded.resize(size, Image.Resampling.BICUBIC)
    return decoded
