"""`dbt build` of dbt_reports/ on the fixture results (conftest.py): the marts hold the values computed by hand,
keep results of different profiles and variants apart, carry the intervals and standard errors scoring.stats
computed (one formula), and a result outside its metric's range fails the build before it reaches the marts."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from llmeval_assets.defs.reports import run_dbt_build
from llmeval_assets.scoring.stats import interval_95, mean_stderr
from tests.reports.conftest import DENSE, GSM8K_SPEC, MOE, MT_BENCH_JUDGE, write_results_duckdb


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    work = tmp_path_factory.mktemp("dbt")
    duckdb_path = write_results_duckdb(work / "results.duckdb")
    return duckdb_path, run_dbt_build(duckdb_path, target_path=work / "target")


def query(duckdb_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_model_unit_test_and_data_test_passes(built):
    _, statuses = built
    assert {status for _, status in statuses} == {"success", "pass"}, [
        (name, status) for name, status in statuses if status not in ("success", "pass")]
    names = {name for name, _ in statuses}
    assert {"leaderboard", "category_summary", "subject_breakdown", "run_cost", "efficiency"} <= names
    assert {"leaderboard_shows_only_the_current_spec", "category_summary_maps_mt_bench_onto_zero_to_one"} <= names


def test_leaderboard_shows_the_current_spec_only(built):
    duckdb_path, _ = built
    rows = query(duckdb_path, "select model, dataset, metric, spec_hash, value, n, model_display_name, "
                              "active_params_b from reports.leaderboard where profile = 'default' "
                              "order by model, dataset")
    assert [(r[0], r[1]) for r in rows] == [(MOE, "gsm8k"), (MOE, "mmlu"), (MOE, "mt_bench"), (DENSE, "gsm8k")]
    moe_gsm8k = rows[0]
    # the older spec scored 0.75 and the secondary metric strict_match 0.0: neither shows, nor a mix of them
    assert moe_gsm8k[2:6] == ("exact_match", GSM8K_SPEC, 0.5, 4)
    assert moe_gsm8k[6:] == ("Mixtral 8x7B Instruct v0.1", 12.9)
    [current] = query(duckdb_path, f"select value, stderr from evals.metrics where model = '{MOE}' "
                                   f"and dataset = 'gsm8k' and spec_hash = '{GSM8K_SPEC}' and metric = 'exact_match'")
    assert query(duckdb_path, f"select value, stderr from reports.leaderboard "
                              f"where model = '{MOE}' and dataset = 'gsm8k'") == [current]


def test_leaderboard_says_who_judged_only_for_judged_benchmarks(built):
    duckdb_path, _ = built
    rows = query(duckdb_path, "select model, dataset, judge from reports.leaderboard order by model, dataset, "
                              "profile")
    assert rows == [(MOE, "gsm8k", None), (MOE, "mmlu", None), (MOE, "mmlu", None), (MOE, "mt_bench", MT_BENCH_JUDGE),
                    (DENSE, "gsm8k", None)]


def test_leaderboard_keeps_profiles_and_variants_apart_and_says_what_each_reproduces(built):
    duckdb_path, _ = built
    rows = query(duckdb_path, "select profile, variant, num_fewshot, is_chat_template, reference, value "
                              f"from reports.leaderboard where model = '{MOE}' and dataset = 'mmlu' order by profile")
    assert rows == [("default", "chat_5shot", 5, True, "Llama 3.1 model card (lm-eval mmlu_llama)", 0.5),
                    ("lm_eval", "0shot", 0, False, "lm-evaluation-harness mmlu", 0.75)]
    # a category's mean is per profile: the lm_eval result is never averaged with the default profile's
    summary = query(duckdb_path, "select profile, datasets_evaluated, mean_normalized_score "
                                 "from reports.category_summary where category = 'mixture_of_experts' "
                                 f"and model = '{MOE}' order by profile")
    assert [(p, n) for p, n, _ in summary] == [("default", 3), ("lm_eval", 1)]
    assert summary[1][2] == pytest.approx(0.75)


def test_leaderboard_confidence_interval_is_the_one_scoring_computed(built):
    duckdb_path, _ = built
    [(value, stderr, ci_low, ci_high)] = query(
        duckdb_path, f"select value, stderr, ci_low, ci_high from reports.leaderboard "
                     f"where model = '{MOE}' and dataset = 'mmlu' and profile = 'default'")
    scores = [1, 1, 0, 1, 1, 0, 0, 0]
    assert (value, stderr) == pytest.approx((0.5, mean_stderr(scores).stderr))
    assert (ci_low, ci_high) == pytest.approx(interval_95(scores, 0.5, stderr))
    # qwen25_7b's gsm8k, 1 of 4: Wilson's interval stays inside 0..1 without clipping to a point
    [(low, high)] = query(duckdb_path, f"select ci_low, ci_high from reports.leaderboard where model = '{DENSE}'")
    assert 0.0 <= low < 0.25 < high <= 1.0


def test_category_summary_normalizes_mt_bench_and_counts_coverage(built):
    duckdb_path, _ = built
    [(in_category, evaluated, coverage, mean_score, in_mean)] = query(
        duckdb_path, "select datasets_in_category, datasets_evaluated, coverage, mean_normalized_score, "
                     f"datasets_in_mean from reports.category_summary where category = 'mixture_of_experts' "
                     f"and model = '{MOE}' and profile = 'default'")
    [(listed,)] = query(duckdb_path, "select count(*) from evals.dataset_categories "
                                     "where category = 'mixture_of_experts' and is_supported")
    assert (in_category, evaluated, in_mean) == (listed, 3, 3)
    assert coverage == pytest.approx(3 / listed)
    # mmlu 0.5, gsm8k 0.5, mt_bench 7.3 on 1..10 -> (7.3 - 1) / 9 = 0.7
    assert mean_score == pytest.approx((0.5 + 0.5 + 0.7) / 3)


def test_subject_breakdown_per_mmlu_subject_and_mt_bench_category(built):
    duckdb_path, _ = built
    rows = query(duckdb_path, "select dataset, item_group, value, stderr, n from reports.subject_breakdown "
                              f"where model = '{MOE}' and profile = 'default' order by dataset, item_group")
    assert [r[:2] for r in rows] == [("mmlu", "abstract_algebra"), ("mmlu", "anatomy"),
                                     ("mt_bench", "math"), ("mt_bench", "writing")]
    algebra, anatomy, math_category, _ = rows
    # scoring.stats.mean_stderr for 0/1 scores too (sample variance, n - 1), the formula of every other stderr
    assert algebra[2:] == pytest.approx((0.75, math.sqrt(0.75 * 0.25 * 4 / 3 / 4), 4))
    assert anatomy[2] == pytest.approx(0.25)
    # judge scores 6.0 and 8.2: sample std / sqrt(n)
    sample_std = math.sqrt(((6.0 - 7.1) ** 2 + (8.2 - 7.1) ** 2) / (2 - 1))
    assert math_category[2:] == pytest.approx((7.1, sample_std / math.sqrt(2), 2))
    assert query(duckdb_path, "select count(*) from reports.subject_breakdown where dataset = 'gsm8k'") == [(0,)]


def test_run_cost_per_run(built):
    duckdb_path, _ = built
    [(wall_s, load_s, gpu_seconds, gpu_hours, tokens_in, tokens_out, samples, tokens_per_second)] = query(
        duckdb_path, "select wall_s, engine_load_s, gpu_seconds, gpu_hours, tokens_in, tokens_out, samples, "
                     "tokens_per_second from reports.run_cost where run_id = 'run-moe'")
    # mmlu 8 x (500 + 0), gsm8k 4 x (900 + 150), mt_bench 4 x (700 + 400) tokens in 110 inference seconds
    assert (wall_s, load_s, gpu_seconds, tokens_in, tokens_out, samples) == (300.0, 60.0, 340.0, 10400, 2200, 16)
    assert gpu_hours == pytest.approx(340 / 3600)
    assert tokens_per_second == pytest.approx(12600 / 110)


def test_efficiency_divides_by_active_parameters_and_shares_run_gpu_time_by_tokens(built):
    duckdb_path, _ = built
    rows = {r[0]: r[1:] for r in query(
        duckdb_path, "select model || '/' || dataset, score_per_active_billion_params, gpu_seconds_per_100_samples, "
                     "tokens_per_second from reports.efficiency where profile = 'default'")}
    per_active_b, gpu_per_100, tokens_per_second = rows[f"{MOE}/mmlu"]
    assert per_active_b == pytest.approx(0.5 / 12.9)  # active, not total (46.7B), parameters
    # run-moe's 340 GPU seconds, mmlu's share 4000 of 12600 tokens, over its 8 items
    assert gpu_per_100 == pytest.approx(100 * 340 * 4000 / 12600 / 8)
    assert tokens_per_second == pytest.approx(12600 / 110)
    assert rows[f"{DENSE}/gsm8k"][0] == pytest.approx(0.25 / 7.6)  # dense: active = total
    assert rows[f"{DENSE}/gsm8k"][1] == pytest.approx(100 * 30 / 4)


def test_a_value_outside_its_metric_range_fails_the_build(tmp_path):
    duckdb_path = write_results_duckdb(tmp_path / "results.duckdb")
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(f"update evals.metrics set value = 1.5 where model = '{MOE}' and dataset = 'mmlu' "
                    "and item_group is null")
    statuses = dict(run_dbt_build(duckdb_path, target_path=tmp_path / "target"))
    failed = [name for name, status in statuses.items() if status == "fail"]
    assert failed and all(name.startswith("accepted_range_stg_metrics_value") for name in failed), failed
    assert statuses["leaderboard"] == "skipped"  # the bad row never reaches the report
