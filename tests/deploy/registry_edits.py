"""Editing a copy of the shipped registry: one change per test, then the exact problems it causes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmeval_assets.registry import RegistryError, load_registry

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT_ROOT / "registry"

# Llama 3.1 405B in bf16: 811.8 GB of weights; one H100-80GB node leaves 8 x 70 = 560 GB, two leave 1120 GB.
LLAMA_405B = {
    "display_name": "Llama 3.1 405B Instruct",
    "hf_id": "meta-llama/Llama-3.1-405B-Instruct",
    "kind": "decoder",
    "params_b": 405.9,
    "dtype": "bfloat16",
    "license": "Llama-3.1",
    "gated": True,
    "context_window": 131072,
    "max_model_len": 32768,
    "tensor_parallel_size": 8,
    "pipeline_parallel_size": 2,
    "instruct": True,
}


def edit(reg_dir: Path, filename: str, mutate) -> None:
    path = reg_dir / filename
    doc = yaml.safe_load(path.read_text())
    mutate(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def problems(reg_dir: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load_registry(reg_dir)
    return [str(p) for p in info.value.problems]
