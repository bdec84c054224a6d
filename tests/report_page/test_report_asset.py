"""The `html_report` Dagster asset materialized on the fixture marts (conftest.py), and `llmeval report --html`
as a real subprocess."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from llmeval_assets.defs.report_page import MART_KEYS, build_html_report_asset
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.paths import PROJECT_ROOT, report_dir


def test_the_asset_sits_downstream_of_the_marts_it_reads():
    asset = build_html_report_asset()
    assert asset.asset_deps[asset.key] == set(MART_KEYS)
    assert asset.group_names_by_key[asset.key] == "reports"
    assert asset.op.pool == "duckdb_writer"


def test_materializing_the_asset_writes_the_page_and_shows_it_in_the_ui(marts_home):
    asset = build_html_report_asset()

    result = dg.materialize([asset], resources={"store": ResultsStore(home=str(marts_home))})

    assert result.success
    [materialization] = result.asset_materializations_for_node(asset.op.name)
    metadata = materialization.metadata
    index_html = Path(metadata["path"].value)
    assert index_html == report_dir(marts_home) / "index.html" and index_html.exists()
    assert metadata["results"].value == 5
    table = metadata["leaderboard"].value
    assert "| dataset | setting | model | metric | value ± stderr | 95% CI | n |" in table
    assert ("| gsm8k | default · chat_8shot (8-shot, chat) | qwen25_7b | exact_match | 0.250 ± 0.250 "
            "| [0.000, 0.740] | 4 |") in table
    assert "| mmlu | lm_eval · 0shot (0-shot) | mixtral_8x7b | acc | 0.750 ± 0.164 |" in table
    heatmap = metadata["heatmap"].value
    prefix = "![heatmap](data:image/png;base64,"
    assert heatmap.startswith(prefix) and heatmap.endswith(")")
    assert base64.b64decode(heatmap[len(prefix):-1]) == (index_html.parent / "heatmap.png").read_bytes()


def test_cli_report_html_prints_the_path_of_the_page(marts_home):
    env = {**os.environ, "LLMEVAL_HOME": str(marts_home)}
    result = subprocess.run([sys.executable, "-m", "llmeval_assets.cli.main", "report", "--html"], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    index_html = Path(result.stdout.strip())
    assert index_html == report_dir(marts_home) / "index.html"
    assert "<b>0.500</b> ± 0.189" in index_html.read_text(encoding="utf-8")
