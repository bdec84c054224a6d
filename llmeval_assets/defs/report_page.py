"""The HTML report (llmeval_assets/report_html.py) as a Dagster asset downstream of the dbt marts it reads. Its
materialization carries what the UI can show without opening the page: the page's path, the leaderboard as a
markdown table and the heat map inline."""

# No `from __future__ import annotations`: Dagster checks the `context` annotation of the decorated function at
# definition time and rejects it as a string.
from pathlib import Path

import dagster as dg

from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.paths import report_dir

MART_KEYS = [dg.AssetKey(["reports", mart]) for mart in
             ("leaderboard", "subject_breakdown", "run_cost", "category_summary")]


def build_html_report_asset() -> dg.AssetsDefinition:
    # Only reads DuckDB, but a read-only connection fails while results_db or dbt holds the file for writing:
    # sharing their pool serializes it behind them.
    @dg.asset(name="html_report", deps=MART_KEYS, group_name="reports", pool="duckdb_writer", kinds={"html"},
              description="Static HTML report with plots under <home>/report/ (leaderboard with 95% intervals, "
                          "model x benchmark heat map, per-subject bars, run cost)")
    def html_report(context: dg.AssetExecutionContext, store: ResultsStore) -> dg.MaterializeResult:
        # matplotlib and pandas load only when the report is built, not when the code location loads
        from llmeval_assets.report_html import (
            image_data_uri,
            leaderboard_markdown,
            read_report_data,
            write_report,
        )

        data = read_report_data(store.duckdb_path)
        paths = write_report(data, report_dir(Path(store.home) if store.home else None))
        context.log.info(f"wrote {paths.index_html} with {len(paths.images)} plots from {store.duckdb_path}")
        heatmap = paths.images.get("heatmap")
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(str(paths.index_html)),
            "results": dg.MetadataValue.int(len(data.leaderboard)),
            "leaderboard": dg.MetadataValue.md(leaderboard_markdown(data.leaderboard)),
            "heatmap": dg.MetadataValue.md(f"![heatmap]({image_data_uri(heatmap)})" if heatmap
                                           else "_no results yet_"),
        })

    return html_report
