"""A copy of the shipped registry with one model larger than a node."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.registry_edits import SHIPPED, edit

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


@pytest.fixture
def reg_dir(tmp_path: Path) -> Path:
    """The shipped registry plus llama31_405b (tensor_parallel_size 8 x pipeline_parallel_size 2, in no category)."""
    target = tmp_path / "registry"
    shutil.copytree(SHIPPED, target)
    edit(target, "models.yaml", lambda d: d["models"].update(llama31_405b=dict(LLAMA_405B)))
    return target
