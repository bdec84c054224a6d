"""Freshness of a judged benchmark's results: the judge (model, reply cap, rating fallback) is part of what MT-Bench
scores were computed from, so naming another judge makes them stale, while a run that names none (the registry
sensor's) keeps them; benchmarks without a judge ignore it. On the shipped registry and a real results lake (Parquet
files); no engine runs."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from llmeval_assets.evaluation import partition_status, resolve_pair
from llmeval_assets.judging import JUDGE_MODEL_ENV, JudgeChoice
from llmeval_assets.registry import load_registry
from llmeval_assets.storage.lake import PartitionState, ResultsLake

MODEL = "smollm2_135m"
DEMO_JUDGE = JudgeChoice(max_tokens=96, rating_fallback=True)


@pytest.fixture()
def registry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(JUDGE_MODEL_ENV, raising=False)
    return load_registry()


def store_result(lake: ResultsLake, registry, dataset: str, judge: str) -> None:
    pair = resolve_pair(registry, MODEL, dataset)
    state = PartitionState(model=MODEL, dataset=dataset, spec_hash=pair.spec_hash, dataset_version="v1",
                           weights_revision="r1", samples=10, run_id="run-1",
                           materialized_at=datetime.now(timezone.utc), judge=judge)
    lake.write_scores(MODEL, dataset, pair.spec_hash, [], [], primary=pair.spec.metrics[0], state=state)


def test_the_same_judge_is_fresh_and_another_named_one_is_stale_with_the_reason(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", DEMO_JUDGE.describe(registry, MODEL))

    assert partition_status(registry, lake, MODEL, "mt_bench", 10, DEMO_JUDGE).status == "fresh"
    strict = partition_status(registry, lake, MODEL, "mt_bench", 10, JudgeChoice(max_tokens=1024))
    assert strict.status == "stale"
    assert strict.reasons == ("judge changed (smollm2_135m max_tokens=96 rating_fallback=likelihood -> "
                              "smollm2_135m max_tokens=1024)",)


def test_naming_no_judge_keeps_the_judge_a_result_has(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", DEMO_JUDGE.describe(registry, MODEL))
    for unnamed in (JudgeChoice(), None):  # `llmeval plan` without judge options; the registry sensor
        assert partition_status(registry, lake, MODEL, "mt_bench", 10, unnamed).status == "fresh"


def test_the_judge_model_from_the_environment_counts(tmp_path, registry, monkeypatch):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", "smollm2_135m")
    monkeypatch.setenv(JUDGE_MODEL_ENV, "qwen_8b")  # a seed alias: recorded under the model it resolves to
    assert partition_status(registry, lake, MODEL, "mt_bench", 10, JudgeChoice()).reasons == (
        "judge changed (smollm2_135m -> qwen3_8b)",)


def test_benchmarks_without_a_judge_ignore_the_judge_choice(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "gsm8k", "")
    assert partition_status(registry, lake, MODEL, "gsm8k", 10, DEMO_JUDGE).status == "fresh"


def test_a_result_stored_before_judges_were_recorded_is_stale(tmp_path, registry):
    lake = ResultsLake(tmp_path)
    store_result(lake, registry, "mt_bench", "smollm2_135m")
    path = next((tmp_path / "partitions").rglob("part.parquet"))
    pq.write_table(pq.read_table(path).drop_columns(["judge"]), path)  # the file as an older llmeval wrote it

    assert lake.partition_state(MODEL, "mt_bench").judge == ""
    assert partition_status(registry, lake, MODEL, "mt_bench", 10, JudgeChoice(model=MODEL)).reasons == (
        "judge changed (not recorded -> smollm2_135m)",)
