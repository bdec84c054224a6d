"""`llmeval report` on the real results DuckDB of conftest.py: each row says its profile and variant (few-shot
count, chat), results of different profiles or variants are separate rows, and the notes say which published
setting each variant reproduces."""

from __future__ import annotations

import json

from tests.results.conftest import DATASET
from tests.results.test_result_commands import llmeval


def test_report_rows_carry_profile_variant_and_reference(results_env):
    result = llmeval(results_env, "report", "--json")
    assert result.returncode == 0, result.stderr
    primary = [(r["model"], r["profile"], r["variant"], r["metric"]) for r in json.loads(result.stdout)
               if r["is_primary"]]
    assert sorted(primary) == [("tiny_a", "default", "0shot", "acc_norm"),
                               ("tiny_a", "lm_eval~8bd90679", "0shot", "acc_norm"),
                               ("tiny_b", "default", "0shot", "acc_norm"),
                               ("tiny_chat", "default", "chat_0shot", "acc"),
                               ("tiny_lm", "lm_eval", "0shot", "acc_norm")]
    text = llmeval(results_env, "report").stdout
    lines = [line for line in text.splitlines() if DATASET in line and "tiny_chat" in line and "acc *" in line]
    assert len(lines) == 1 and "chat_0shot (0-shot, chat)" in lines[0] and "default" in lines[0]
    assert "arc_challenge 0shot reproduces: lm-evaluation-harness arc_challenge" in text
    assert "arc_challenge chat_0shot reproduces: Llama 3.1 model card (lm-eval arc_challenge_llama)" in text
    assert "profile lm_eval~8bd90679: lm_eval with limit=3" in text


def test_dbt_and_the_html_page_on_results_the_pipeline_functions_wrote(results_env, tmp_path):
    """Every dbt grain and range test holds on real pipeline rows (several profiles of one model, an overridden
    run, per-group metrics absent, chat and log-likelihood variants), and the page compares the two models that
    were evaluated alike."""
    from llmeval_assets.defs.reports import run_dbt_build
    from llmeval_assets.paths import results_db_path
    from llmeval_assets.report_html import build_html_report
    from llmeval_assets.reporting import connect_read_only

    duckdb_path = results_db_path(results_env.home)
    statuses = run_dbt_build(duckdb_path, target_path=tmp_path / "target")
    assert {status for _, status in statuses} == {"success", "pass"}, [s for s in statuses if s[1] != "success"]
    with connect_read_only(duckdb_path) as con:
        rows = con.execute("select model, profile, variant, metric from reports.leaderboard "
                           "order by model, profile").fetchall()
    assert rows == [("tiny_a", "default", "0shot", "acc_norm"), ("tiny_a", "lm_eval~8bd90679", "0shot", "acc_norm"),
                    ("tiny_b", "default", "0shot", "acc_norm"), ("tiny_chat", "default", "chat_0shot", "acc"),
                    ("tiny_lm", "lm_eval", "0shot", "acc_norm")]
    page = build_html_report(duckdb_path, tmp_path / "report").index_html.read_text(encoding="utf-8")
    section = page[page.index('<section id="comparison">'):]
    section = section[:section.index("</section>")]
    assert section.count("<tr><td>") == 1  # tiny_a and tiny_b: the only two results of one setting
    assert "<td>Tiny a</td><td>Tiny b</td><td class=num>5</td><td class=num><b>+0.200</b></td>" in section
