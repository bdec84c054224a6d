"""Hostile or broken registry input (issue 14 §2): each case, on a copy of the shipped registry broken in exactly
one place, is refused by `llmeval validate` with the file, key and field, a non-zero exit and no traceback."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry_edits import PROJECT_ROOT, SHIPPED, edit, problems


@pytest.fixture
def reg_dir(tmp_path: Path) -> Path:
    target = tmp_path / "registry"
    shutil.copytree(SHIPPED, target)
    return target


def llmeval(*args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    """This worktree's `llmeval` (python -m from the project root), as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **({"LLMEVAL_HOME": str(home)} if home else {})}
    return subprocess.run([sys.executable, "-m", "llmeval_assets.cli.main", *args], capture_output=True, text=True,
                          check=False, timeout=120, cwd=PROJECT_ROOT, env=env)


def refused(reg_dir: Path) -> str:
    """`llmeval validate` on the broken copy: exit 1, no traceback; its error output."""
    proc = llmeval("validate", "--registry", str(reg_dir))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.replace("\n", " ")


def test_a_non_utf8_byte_names_file_line_and_byte(reg_dir):
    path = reg_dir / "models.yaml"
    lines = path.read_bytes().split(b"\n")
    line = next(i for i, text in enumerate(lines) if text.startswith(b"    display_name: Llama 3.1 70B"))
    lines[line] += b" \xff"
    path.write_bytes(b"\n".join(lines))
    offset = sum(len(text) + 1 for text in lines[:line]) + len(lines[line]) - 1
    message = f"models.yaml: line {line + 1}: not UTF-8 (byte 0xff at offset {offset}); save the file as UTF-8"
    assert problems(reg_dir) == [message]
    assert message in refused(reg_dir)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_params_b_must_be_finite(reg_dir, value):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_70b"].update(params_b=value))
    message = f"models.yaml: llama31_70b.params_b: Input should be a finite number (got {value!r})"
    assert problems(reg_dir) == [message]
    if value == math.inf:  # the seed's case: an OverflowError traceback
        assert message in refused(reg_dir)


@pytest.mark.parametrize(("file", "path", "value", "expected"), [
    ("models.yaml", ("models", "llama31_70b", "tensor_parallel_size"), True,
     "models.yaml: llama31_70b.tensor_parallel_size: Input should be a valid integer (got True)"),
    ("models.yaml", ("models", "llama31_70b", "tensor_parallel_size"), 4.0,
     "models.yaml: llama31_70b.tensor_parallel_size: Input should be a valid integer (got 4.0)"),
    ("models.yaml", ("models", "llama31_70b", "context_window"), "131072",
     "models.yaml: llama31_70b.context_window: Input should be a valid integer (got '131072')"),
    ("models.yaml", ("models", "llama31_70b", "params_b"), True,
     "models.yaml: llama31_70b.params_b: Input should be a valid number (got True)"),
    ("models.yaml", ("models", "llama31_70b", "instruct"), 1,
     "models.yaml: llama31_70b.instruct: Input should be a valid boolean (got 1)"),
    ("models.yaml", ("models", "llama31_70b", "gpu_memory_utilization"), math.nan,
     "models.yaml: llama31_70b.gpu_memory_utilization: Input should be a finite number (got nan)"),
    ("categories.yaml", ("categories", "general_purpose", "settings", "sample_limit"), 30.5,
     "categories.yaml: general_purpose.settings.sample_limit: Input should be a valid integer (got 30.5)"),
    ("categories.yaml", ("categories", "general_purpose", "settings", "timeout_s"), math.inf,
     "categories.yaml: general_purpose.settings.timeout_s: Input should be a finite number (got inf)"),
    ("datasets.yaml", ("datasets", "gsm8k", "n_items"), False,
     "datasets.yaml: gsm8k.n_items: Input should be a valid integer (got False)"),
    ("datasets.yaml", ("datasets", "gsm8k", "supported"), 1,
     "datasets.yaml: gsm8k.supported: Input should be a valid boolean (got 1)"),
    ("presets.yaml", ("presets", "balanced", "max_num_seqs"), True,
     "presets.yaml: balanced.max_num_seqs: Input should be a valid integer (got True)"),
    ("hardware.yaml", ("hardware", "gpus", "H100-80GB", "memory_gb"), math.inf,
     "hardware.yaml: gpus.H100-80GB.memory_gb: Input should be a finite number (got inf)"),
])
def test_numeric_and_boolean_fields_are_strict(reg_dir, file, path, value, expected):
    def put(doc):
        for part in path[:-1]:
            doc = doc[part]
        doc[path[-1]] = value

    edit(reg_dir, file, put)
    assert problems(reg_dir) == [expected]


def test_validate_refuses_a_boolean_parallel_size(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_70b"].update(tensor_parallel_size=True))
    assert "models.yaml: llama31_70b.tensor_parallel_size: Input should be a valid integer (got True)" in \
        refused(reg_dir)


def test_a_benchmark_that_names_no_module(reg_dir):
    edit(reg_dir, "datasets.yaml", lambda d: d["datasets"]["gsm8k"].update(benchmark="gsm8k_v2"))
    message = ("datasets.yaml: gsm8k.benchmark: no benchmark module llmeval_assets/benchmarks/gsm8k_v2.py "
               "(did you mean 'gsm8k'?)")
    assert problems(reg_dir)[0] == message  # (then the profiles that name benchmark gsm8k)
    assert message in refused(reg_dir)
    # every other command refuses the registry the same way, before anything runs
    proc = llmeval("plan", "--model", "smollm2_135m", "--dataset", "arc_challenge", "--registry", str(reg_dir))
    assert proc.returncode == 1 and message in proc.stderr.replace("\n", " ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("key", ["smol/../../evil", "..", "/etc/passwd", "a\x00b", ".hidden", "two words", ""])
def test_a_key_that_is_not_a_plain_name(reg_dir, key):
    def add(doc):
        doc["models"][key] = dict(doc["models"]["smollm2_135m"], aliases=[])

    edit(reg_dir, "models.yaml", add)
    assert problems(reg_dir) == [
        f"models.yaml: {key!r}: a key is a plain name (letters, digits, '_', '.', '-'; starting with a letter or "
        "digit): keys become folder names under the results and the model cache"]


def test_a_category_listing_an_alias_of_a_member(reg_dir):
    edit(reg_dir, "categories.yaml",
         lambda d: d["categories"]["coding_specialists"]["models"].append("qwen_8b"))
    message = ("categories.yaml: coding_specialists.models: 'qwen_8b' is an alias of model 'qwen3_8b'; 'qwen3_8b' "
               "is already listed: list a model by its key")
    assert problems(reg_dir) == [message]
    assert message in refused(reg_dir)


def test_a_category_listing_an_alias_alone(reg_dir):
    edit(reg_dir, "categories.yaml",
         lambda d: d["categories"]["general_purpose"]["models"].append("qwen_8b"))
    assert problems(reg_dir) == [
        "categories.yaml: general_purpose.models: 'qwen_8b' is an alias of model 'qwen3_8b': list a model by its key"]
