"""The HTML report built from the fixture marts (conftest.py): real PNG plots, a page that references them
relatively and shows the leaderboard values computed by hand, and a page that says "no results yet" when the
database or some marts are missing."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from PIL import Image

from llmeval_assets.paths import results_db_path
from llmeval_assets.report_html import (
    NO_RESULTS,
    SUBJECTS_EACH_END,
    best_and_worst_groups,
    build_html_report,
    normalized_scores,
)
from llmeval_assets.reporting import judge_note

PLOTS = {"leaderboard", "heatmap", "subjects_mmlu", "subjects_mt_bench", "run_cost"}


@pytest.fixture(scope="module")
def report(marts_home: Path, tmp_path_factory: pytest.TempPathFactory):
    return build_html_report(results_db_path(marts_home), tmp_path_factory.mktemp("site") / "report")


def image_sources(index_html: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', index_html.read_text(encoding="utf-8"))


def test_every_plot_is_a_real_png(report):
    assert set(report.images) == PLOTS
    for name, path in report.images.items():
        with Image.open(path) as image:
            image.verify()  # raises on a truncated or corrupt file
        with Image.open(path) as image:
            assert image.format == "PNG", name
            width, height = image.size
        assert width >= 600 and height >= 150, (name, image.size)
        assert path.stat().st_size > 8_000, (name, path.stat().st_size)  # drawn, not a blank canvas


def test_the_page_references_every_plot_relatively_and_nothing_external(report):
    page = report.index_html.read_text(encoding="utf-8")
    assert sorted(image_sources(report.index_html)) == sorted(path.name for path in report.images.values())
    assert all(path.parent == report.index_html.parent for path in report.images.values())
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<script" not in page


def test_the_page_shows_the_fixture_leaderboard(report):
    page = report.index_html.read_text(encoding="utf-8")
    # value ± stderr (sample std / sqrt(n)) and the 95% interval clipped to 0..1, computed by hand:
    # mixtral gsm8k 1,0,1,0; qwen gsm8k 1,0,0,0; mixtral mmlu 4 of 8; mixtral mt_bench 8, 7, 6, 8.2 on 1..10
    for expected in ("<b>0.500</b> ± 0.289", "[0.000, 1.000]", "<b>0.250</b> ± 0.250", "[0.000, 0.740]",
                     "<b>0.500</b> ± 0.189", "[0.130, 0.870]", "<b>7.300</b> ± 0.507", "[6.307, 8.293]"):
        assert expected in page, expected
    # mixtral's mmlu under lm_eval (0.75) is a row of its own; gsm8k's superseded spec (also 0.75) never shows
    assert page.count("<b>0.750</b>") == 1
    assert page.count("small n</span></td>") == 5  # every fixture result has fewer than 30 items
    assert "default · chat_5shot (5-shot, chat)" in page and "lm_eval · 0shot (0-shot)" in page
    assert "reproduces lm-evaluation-harness mmlu" in page
    assert '<code title="gsm8k-spec-new">gsm8k-sp</code>' in page
    assert page.count('class="judge"') == 1  # mt_bench only
    assert '<small class="judge">judged by llama31_70b max_tokens=1024</small>' in page
    assert "Mixtral 8x7B Instruct v0.1" in page and "Qwen2.5 7B Instruct" in page  # registry display names
    # category summary: mixtral covers 3 of mixture_of_experts' 7 datasets, mean (0.5 + 0.5 + 0.7) / 3
    assert re.search(r"mixture_of_experts</td><td>Mixtral 8x7B Instruct v0.1</td><td>default</td>"
                     r"<td class=num>3 / 7</td><td class=num>43%</td><td class=num>0.567</td>", page)
    assert '<code title="run-dense">run-dens</code>' in page and "12,600" in page  # run-moe's tokens
    assert NO_RESULTS not in page


def test_two_models_evaluated_alike_are_compared_on_their_shared_items(report):
    page = report.index_html.read_text(encoding="utf-8")
    section = page[page.index('<section id="comparison">'):]
    section = section[:section.index("</section>")]
    # gsm8k, both under default / chat_8shot: mixtral 1,0,1,0 and qwen 1,0,0,0 on the same four items
    row = re.search(r"<tr><td>gsm8k</td><td>default · chat_8shot</td><td>exact_match</td>"
                    r"<td>Mixtral 8x7B Instruct v0.1</td><td>Qwen2.5 7B Instruct</td>(.*?)</tr>", section)
    assert row, section
    differences = [0, 0, 1, 0]
    stderr = math.sqrt(sum((d - 0.25) ** 2 for d in differences) / 3 / 4)
    cells = re.findall(r"<td class=num>(.*?)</td>", row.group(1))
    assert cells == ["4", "<b>+0.250</b>", f"[{0.25 - 1.959964 * stderr:+.3f}, {0.25 + 1.959964 * stderr:+.3f}]",
                     f"{math.erfc(0.25 / stderr / math.sqrt(2)):.3f}", "1 / 0"]
    assert section.count("<tr><td>") == 1  # mmlu and mt_bench have one model each: nothing to compare


def test_heat_map_normalizes_by_the_metric_range():
    leaderboard = pd.DataFrame({
        "value": [7.3, 0.5, 2.0, 0.2],
        "value_min": [1.0, 0.0, 0.0, 0.0],
        "value_max": [10.0, 1.0, math.inf, 1.0],
        "is_higher_better": [True, True, True, False],
    })
    normalized = normalized_scores(leaderboard)
    assert normalized[:2].tolist() == pytest.approx([0.7, 0.5])  # MT-Bench (7.3 - 1) / 9
    assert normalized[2:].isna().all()  # no finite range; lower is better: no color, raw value only


def test_many_subjects_show_the_best_and_the_worst():
    groups = pd.DataFrame({"item_group": [f"s{i:02d}" for i in range(2 * SUBJECTS_EACH_END + 5)]})
    groups["value"] = [i / 100 for i in range(len(groups))]
    shown, hidden = best_and_worst_groups(groups)
    assert hidden == 5
    assert shown["item_group"].tolist() == ([f"s{i:02d}" for i in range(24, 14, -1)]
                                           + [f"s{i:02d}" for i in range(9, -1, -1)])
    few = groups.head(2 * SUBJECTS_EACH_END)
    shown, hidden = best_and_worst_groups(few)
    assert hidden == 0 and len(shown) == len(few)


def test_no_database_gives_a_page_that_says_no_results_yet(tmp_path):
    paths = build_html_report(tmp_path / "missing.duckdb", tmp_path / "report")
    page = paths.index_html.read_text(encoding="utf-8")
    assert paths.images == {} and image_sources(paths.index_html) == []
    assert page.count(NO_RESULTS) == 5  # leaderboard, heat map, subjects, categories, run cost


def test_missing_marts_leave_only_their_sections_empty(marts_home, tmp_path):
    partial = shutil.copy(results_db_path(marts_home), tmp_path / "partial.duckdb")
    with duckdb.connect(str(partial)) as con:
        con.execute("drop table reports.run_cost")
        con.execute("drop table reports.subject_breakdown")
    paths = build_html_report(Path(partial), tmp_path / "report")
    page = paths.index_html.read_text(encoding="utf-8")
    assert set(paths.images) == {"leaderboard", "heatmap"}
    assert "<b>7.300</b> ± 0.507" in page
    run_cost_section = page[page.index('<section id="run-cost">'):]
    assert NO_RESULTS in run_cost_section[:run_cost_section.index("</section>")]


def test_marts_built_by_an_older_llmeval_still_give_a_page(marts_home, tmp_path):
    older = shutil.copy(results_db_path(marts_home), tmp_path / "older.duckdb")
    with duckdb.connect(str(older)) as con:  # the leaderboard before it recorded judges
        con.execute("alter table reports.leaderboard drop column judge")
    page = build_html_report(Path(older), tmp_path / "report").index_html.read_text(encoding="utf-8")
    assert "<b>7.300</b> ± 0.507" in page and "judged by" not in page


def test_a_rebuild_replaces_the_whole_report(marts_home, tmp_path):
    out_dir = tmp_path / "report"
    build_html_report(results_db_path(marts_home), out_dir)
    assert (out_dir / "subjects_mmlu.png").exists()

    build_html_report(tmp_path / "missing.duckdb", out_dir)

    assert [p.name for p in out_dir.iterdir()] == ["index.html"]  # no plot of the old results lingers
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging or retired folder left behind


def test_a_self_judged_result_is_flagged_as_a_smoke_test():
    assert judge_note("smollm2_135m", "smollm2_135m max_tokens=96 rating_fallback=likelihood") == (
        "judged by smollm2_135m max_tokens=96 rating_fallback=likelihood "
        "(the model judged itself: a smoke test, not a meaningful score)")
    assert judge_note("qwen3_8b", "llama31_70b@abc123") == "judged by llama31_70b@abc123"
    assert judge_note("qwen3_8b", None) is None
