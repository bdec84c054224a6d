"""`llmeval report`'s rows, read from the fixture results file (conftest.py): every metric of the current spec,
with the judge of judged results, also from a file an older llmeval wrote (no judge column yet)."""

from __future__ import annotations

import duckdb

from llmeval_assets.reporting import leaderboard_rows
from tests.reports.conftest import GSM8K_SPEC, MOE, MT_BENCH_JUDGE, write_results_duckdb


def test_rows_carry_the_judge_of_judged_results(tmp_path):
    rows = leaderboard_rows(path=write_results_duckdb(tmp_path / "results.duckdb"))
    judges = {(r["model"], r["dataset"], r["metric"]): r["judge"] for r in rows}
    assert judges[(MOE, "mt_bench", "score")] == MT_BENCH_JUDGE
    assert {judge for key, judge in judges.items() if key[1] != "mt_bench"} == {None}
    assert {r["spec_hash"] for r in rows if r["dataset"] == "gsm8k"} == {GSM8K_SPEC}  # never the superseded spec


def test_a_results_file_from_before_judges_were_recorded_still_reads(tmp_path):
    path = write_results_duckdb(tmp_path / "results.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("alter table evals.partitions drop column judge")
    rows = leaderboard_rows(path=path)
    assert [r["value"] for r in rows if r["dataset"] == "mt_bench" and r["metric"] == "score"] == [7.3]
    assert {r["judge"] for r in rows} == {None}


def test_rows_say_which_results_were_computed_on_a_fixture(tmp_path):
    path = write_results_duckdb(tmp_path / "results.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("update evals.partitions set fixture = (dataset = 'gsm8k')")
    rows = leaderboard_rows(path=path)
    assert {r["dataset"] for r in rows if r["fixture"]} == {"gsm8k"}
    with duckdb.connect(str(path)) as con:
        con.execute("alter table evals.partitions drop column fixture")  # a file from before fixtures were recorded
    assert not any(r["fixture"] for r in leaderboard_rows(path=path))
