"""A copy of the shipped registry with one model larger than a node (see registry_edits.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.registry_edits import LLAMA_405B, SHIPPED, edit


@pytest.fixture
def reg_dir(tmp_path: Path) -> Path:
    """The shipped registry plus llama31_405b (tensor_parallel_size 8 x pipeline_parallel_size 2, in no category)."""
    target = tmp_path / "registry"
    shutil.copytree(SHIPPED, target)
    edit(target, "models.yaml", lambda d: d["models"].update(llama31_405b=dict(LLAMA_405B)))
    return target
