"""Reading results back out of DuckDB for people: the leaderboard rows `llmeval report` prints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

from llmeval_assets.judging import judge_model_of
from llmeval_assets.paths import report_dir, results_db_path
from llmeval_assets.storage.lake import ResultsLake


class LeaderboardUnavailable(RuntimeError):
    pass


def connect_read_only(path: Path, wait_s: float = 30.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection; DuckDB refuses it while a writer holds the file, so wait for the writer a while."""
    if not path.exists():
        raise LeaderboardUnavailable(f"no results yet ({path} does not exist): run `llmeval evaluate` first")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if time.monotonic() > deadline:
                raise LeaderboardUnavailable(f"{path} is locked by a writer: {exc}") from exc
            time.sleep(0.5)


def table_columns(con: duckdb.DuckDBPyConnection, schema: str) -> set[tuple[str, str]]:
    """(table, column) of every table in `schema`. A results file or mart built by an older llmeval lacks the
    columns added since, until its next refresh: readers select those as null instead of failing."""
    return set(con.execute("select table_name, column_name from information_schema.columns where table_schema = ?",
                           [schema]).fetchall())


def judge_note(model: str, judge: str | None) -> str | None:
    """How a judged result was judged, in words, flagging a model that judged its own answers; None when the
    benchmark has no judge. `judge` is what the partition recorded (judging.JudgeChoice.describe)."""
    if not judge:
        return None
    self_judged = (" (the model judged itself: a smoke test, not a meaningful score)"
                   if judge_model_of(judge) == model else "")
    return f"judged by {judge}{self_judged}"


def reports_out_of_date(lake: ResultsLake, report: Path | None = None) -> bool:
    """True when some result was stored after the last complete report refresh. The HTML page is the refresh's
    last step, so a refresh that failed part-way (dbt tests, say) leaves the reports out of date too."""
    index = (report or report_dir()) / "index.html"
    stored = lake.files("partitions") + lake.files("runs")
    if not stored:
        return False
    return not index.exists() or max(p.stat().st_mtime for p in stored) > index.stat().st_mtime


def leaderboard_rows(category: str | None = None, path: Path | None = None) -> list[dict[str, Any]]:
    """Every metric of every (model, dataset) result, computed with the spec its partition currently holds (results
    of other specs are never mixed in)."""
    con = connect_read_only(path or results_db_path())
    with con:
        columns = table_columns(con, "evals")
        recorded = ("partitions", "judge") in columns
        fixture = "coalesce(p.fixture, false)" if ("partitions", "fixture") in columns else "false"
        query = f"""
            select m.model, m.dataset, m.metric, m.value, m.stderr, m.n, m.is_primary, m.spec_hash,
                   {"nullif(p.judge, '')" if recorded else "null"} as judge, {fixture} as fixture
            from evals.metrics m
            join evals.partitions p using (model, dataset, spec_hash)
            where ($category is null
                   or (m.model in (select model from evals.model_categories where category = $category)
                       and m.dataset in (select dataset from evals.dataset_categories where category = $category)))
            order by m.dataset, m.is_primary desc, m.metric, m.value desc, m.model"""
        cursor = con.execute(query, {"category": category})
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
