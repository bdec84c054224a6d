"""The Markdown table of failing samples that the Dagster `scores_<dataset>` materialization shows
(defs/evaluation.failing_samples_table), on the real results lake of conftest.py."""

from __future__ import annotations

from llmeval_assets.defs.evaluation import FAILING_SAMPLES_SHOWN, failing_samples_table
from llmeval_assets.evaluation import resolve_evaluation
from llmeval_assets.paths import lake_dir
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.storage.lake import ResultsLake
from tests.results.conftest import DATASET


def test_the_table_lists_failing_samples_of_the_primary_metric(results_env):
    lake = ResultsLake(lake_dir(results_env.home))
    evaluation = resolve_evaluation(results_env.registry(), "tiny_b", DATASET, ProfileChoice())
    table = failing_samples_table(lake, evaluation)
    lines = table.splitlines()
    assert lines[0] == "| item | answer | target | score | explanation |"
    wrong = set(results_env.order[:5]) - results_env.known("tiny_b")
    rows = [line for line in lines[2:] if line.startswith("| ")]
    assert len(rows) == min(len(wrong), FAILING_SAMPLES_SHOWN)
    assert {row.split(" | ")[0].removeprefix("| ") for row in rows} <= wrong
    assert all(" | 0 | acc picks choice" in row for row in rows)
    assert table.endswith(f"`llmeval samples --model tiny_b --dataset {DATASET} --wrong`")


def test_no_failing_sample_says_so(results_env, tmp_path):
    lake = ResultsLake(tmp_path / "lake")
    evaluation = resolve_evaluation(results_env.registry(), "tiny_b", DATASET, ProfileChoice())
    assert failing_samples_table(lake, evaluation) == "no failing samples on acc_norm"
