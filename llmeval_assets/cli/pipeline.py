"""Pipeline commands: evaluate (through Dagster, against the project's instance, so the UI shows the runs),
report (the leaderboard from DuckDB), ui."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmeval_assets.cli.registry import (
    CategoryOption,
    ChatTemplateOption,
    DatasetOption,
    DtypeOption,
    EverythingOption,
    FewshotFromOption,
    GenKwargsOption,
    IncludeOptionalOption,
    ItemsOption,
    JudgeMaxTokensOption,
    JudgeOption,
    JudgeRatingFallbackOption,
    LimitOption,
    ModelArgsOption,
    ModelOption,
    NumFewshotOption,
    PresetOption,
    ProfileOption,
    SamplesOption,
    SeedOption,
    SystemInstructionOption,
    VariantOption,
    adhoc_model_or_exit,
    blocked_weights,
    console,
    emit_json,
    err_console,
    fail,
    judge_or_exit,
    load_or_exit,
    partition_statuses,
    plan_or_exit,
    profile_choice_or_exit,
    show_plan,
)
from llmeval_assets.judging import JudgeChoice
from llmeval_assets.registry import UnknownNameError


@contextmanager
def progress_bars() -> Iterator[None]:
    """Progress of each long step (engine load, inference per dataset, scoring) while runs execute in this process:
    bars on a terminal; elsewhere (CI logs, `make demo > log`) one line per update, at most every few seconds per
    step, with items done, rate and time left."""
    from llmeval_assets import progress

    if not console.is_terminal:
        lines = ProgressLines(console.print)
        progress.add_hook(lines.update)
        try:
            yield
        finally:
            progress.remove_hook(lines.update)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, TaskID] = {}

        def hook(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bars.add_task(task, total=total)
            bars.update(tasks[task], completed=done, total=total)

        progress.add_hook(hook)
        try:
            yield
        finally:
            progress.remove_hook(hook)


class ProgressLines:
    """Plain progress lines: the first and last update of a step always, others at most every `every_s`."""

    def __init__(self, emit: Callable[..., Any], every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.emit, self.every_s, self.clock = emit, every_s, clock
        self.started: dict[str, tuple[float, int]] = {}  # task -> (time, done) of its first update
        self.last: dict[str, float] = {}

    def update(self, task: str, done: int, total: int) -> None:
        now = self.clock()
        if task not in self.started:
            self.started[task] = (now, done)
        elif done < total and now - self.last[task] < self.every_s:
            return
        self.last[task] = now
        began, first = self.started[task]
        elapsed = now - began
        rate = (done - first) / elapsed if elapsed > 0 and done > first else 0.0
        left = f", about {_duration((total - done) / rate)} left" if rate and done < total else ""
        pace = f", {rate:.2f}/s" if rate else ""
        self.emit(f"{task}: {done}/{total}{pace}{left}" + (f" (done in {_duration(elapsed)})" if done >= total
                                                            and elapsed > 0 else ""), highlight=False, markup=False)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def write_output_files(output_path: Path | None, statuses: list[dict[str, Any]]) -> None:
    """--output-path: the run's results as files (llmeval_assets.export), from the refreshed results DuckDB."""
    if output_path is None:
        return
    from llmeval_assets.export import ExportError, write_output
    from llmeval_assets.paths import results_db_path
    from llmeval_assets.reporting import LeaderboardUnavailable, connect_read_only

    try:
        with connect_read_only(results_db_path()) as con:
            path = write_output(con, output_path, [(s["model"], s["dataset"], s["profile"]) for s in statuses])
    except (ExportError, LeaderboardUnavailable, OSError) as exc:
        err_console.print(f"error: --output-path {output_path}: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    console.print(f"wrote {path} and {len(statuses)} samples files", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(category: str | None = CategoryOption, model: str | None = ModelOption,
                 dataset: str | None = DatasetOption, samples: int | None = SamplesOption,
                 preset: str | None = PresetOption, include_optional: bool = IncludeOptionalOption,
                 everything: bool = EverythingOption,
                 judge: str | None = JudgeOption, judge_max_tokens: int | None = JudgeMaxTokensOption,
                 judge_rating_fallback: bool = JudgeRatingFallbackOption,
                 profile: str | None = ProfileOption, variant: str | None = VariantOption,
                 num_fewshot: int | None = NumFewshotOption, chat_template: bool | None = ChatTemplateOption,
                 system_instruction: str | None = SystemInstructionOption,
                 gen_kwargs: str | None = GenKwargsOption, dtype: str | None = DtypeOption,
                 limit: int | None = LimitOption, items: Path | None = ItemsOption,
                 fewshot_from: Path | None = FewshotFromOption, seed: int | None = SeedOption,
                 model_args: str | None = ModelArgsOption,
                 chunk_size: int | None = typer.Option(None, "--chunk-size", min=1,
                                                          help="Requests per engine call; each finished chunk is "
                                                               "stored, so a crash loses at most one"),
                 output_path: Path | None = typer.Option(
                     None, "--output-path", help="Also write results.json and one samples JSONL per result into "
                                                 "this folder (schema: docs/output_files.md)"),
                 dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (with freshness) and stop"),
                 verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Dagster's and vLLM's logs"),
                 registry: Path | None = typer.Option(None, "--registry"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
        """Evaluate a category or a model: one Dagster run per model for exactly its stale or missing pairs."""
        reg, model = adhoc_model_or_exit(load_or_exit(registry), registry, model, model_args, category, dataset,
                                         persist=not dry_run)
        selection: dict[str, Any] = {"category": category, "model": model, "dataset": dataset, "samples": samples,
                                     "preset": preset, "include_optional": include_optional, "everything": everything}
        judging = JudgeChoice(judge, judge_max_tokens, judge_rating_fallback)
        choice = profile_choice_or_exit(profile, variant, num_fewshot, chat_template, system_instruction,
                                        gen_kwargs, dtype, limit, items, fewshot_from, seed)
        judge_or_exit(reg, judging)
        if dry_run and output_path is not None:
            return fail("--output-path writes the results of a run; --dry-run runs nothing")
        if dry_run:  # the seed's flag: print the plan and stop
            if show_plan(reg, as_json=as_json, status=True, judge=judging, choice=choice, **selection):
                raise typer.Exit(1)  # the real run would refuse
            return None
        from llmeval_assets.paths import lake_dir
        from llmeval_assets.reporting import reports_out_of_date
        from llmeval_assets.storage.lake import ResultsLake

        plan = plan_or_exit(reg, choice=choice, **selection)
        statuses = partition_statuses(reg, plan.as_dict()["partitions"], samples, judging, choice, preset)
        blocked = blocked_weights(reg, {s["model"] for s in statuses if s["status"] != "fresh"})
        if blocked:  # its run would fail only after the others, when it fetches the weights
            err_console.print("error: cannot fetch the weights of " + "; ".join(
                f"{key}: {reason}" for key, reason in sorted(blocked.items())) + "; nothing was run (choose other "
                "models with --model)", highlight=False, markup=False)
            raise typer.Exit(1)
        if all(s["status"] == "fresh" for s in statuses) and not reports_out_of_date(ResultsLake(lake_dir())):
            # answered without starting Dagster or an engine
            console.print(f"all {len(statuses)} partitions are fresh: nothing to run", highlight=False)
            write_output_files(output_path, statuses)
            return emit_json({"partitions": len(statuses), "fresh": len(statuses), "runs": []}) if as_json else None
        from llmeval_assets.launch import EvaluationFailed, launch_evaluation

        if not verbose:  # vLLM reads its log level at import; Dagster's is set per run
            os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
            # vLLM's engine processes warn about torch deprecations they trigger; nothing a user can act on
            os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
        try:
            with progress_bars():
                summary = launch_evaluation(reg, registry_dir=registry, judge=judging, choice=choice,
                                            chunk_size=chunk_size,
                                            log=console.print, log_level="DEBUG" if verbose else "CRITICAL",
                                            **selection)
        except EvaluationFailed as exc:
            err_console.print(str(exc), style="red", highlight=False, markup=False)
            raise typer.Exit(1) from None
        write_output_files(output_path, statuses)
        if as_json:
            return emit_json(summary)
        return None

    @app.command()
    def report(category: str | None = typer.Option(None, "--category", "-c"),
               as_json: bool = typer.Option(False, "--json"),
               as_html: bool = typer.Option(False, "--html", help="Build the HTML report with plots "
                                                                  "(.llmeval/report/) and print its path")) -> None:
        """The leaderboard from DuckDB: one row per (model, dataset, profile, metric) with the variant, its standard
        error, 95% interval and n, and the published setting each variant reproduces."""
        if category is not None:
            try:
                category = load_or_exit(None).resolve_category(category)
            except UnknownNameError as exc:
                return fail(str(exc))
        if as_html:
            from llmeval_assets.report_html import build_html_report
            from llmeval_assets.reporting import LeaderboardUnavailable

            try:
                paths = build_html_report()
            except LeaderboardUnavailable as exc:  # the results file stayed locked by a writer
                return fail(str(exc))
            return typer.echo(paths.index_html)
        from llmeval_assets.reporting import LeaderboardUnavailable, judge_note, leaderboard_rows

        try:
            rows = leaderboard_rows(category=category)
        except LeaderboardUnavailable as exc:
            return fail(str(exc))
        if not rows:
            scope = f"category {category!r}" if category else "any model"
            err_console.print(f"error: no results stored for {scope} yet: run `llmeval evaluate "
                              f"{f'--category {category}' if category else '--category C'}` first",
                              highlight=False, markup=False)
            raise typer.Exit(1)
        if as_json:
            return emit_json(rows)
        # one row per (model, dataset, profile) metric; a dataset's results under different profiles or variants
        # are separate rows, never ranked together
        table = Table("dataset", "profile", "variant", "model", "metric", "value", "± stderr", "95% CI", "n")
        for r in rows:
            stderr = f"{r['stderr']:.3f}" if r["stderr"] is not None else "-"
            interval = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if r["ci_low"] is not None else "-"
            shots = f" ({r['num_fewshot']}-shot{', chat' if r['chat_template'] else ''})" \
                if r["num_fewshot"] is not None else ""
            table.add_row(r["dataset"] + (" (fixture)" if r["fixture"] else ""), r["profile"],
                          f"{r['variant'] or '?'}{shots}", r["model"], r["metric"] + (" *" if r["is_primary"] else ""),
                          f"{r['value']:.3f}", stderr, interval, str(r["n"]))
        # piped (CI logs, files): wide enough that no column is cut
        (console if console.is_terminal else Console(soft_wrap=True, width=200)).print(table)
        console.print("* primary metric of the dataset's variant; rows of different profiles or variants are "
                      "different evaluations", highlight=False)
        notes: dict[str, None] = {}
        for r in rows:
            if not r["is_primary"]:
                continue
            if r["reference"]:
                notes[f"{r['dataset']} {r['variant']} reproduces: {r['reference']}"] = None
            if r["profile_label"] and r["profile_label"] != r["profile"]:
                notes[f"profile {r['profile']}: {r['profile_label']}"] = None
            note = judge_note(r["model"], r["judge"])
            if note:
                notes[f"{r['model']} / {r['dataset']}: {note}"] = None
            if r["fixture"]:
                notes[f"{r['model']} / {r['dataset']}: computed on a hand-built FIXTURE, not the benchmark's data "
                      "(no offline copy exists): says nothing about the model"] = None
        for note in notes:
            console.print(note, highlight=False, markup=False)

    @app.command()
    def ui() -> None:
        """Start the Dagster UI on the project's instance (`dagster dev -w workspace.yaml`)."""
        from llmeval_assets.instance import dagster_home
        from llmeval_assets.paths import PROJECT_ROOT

        home = dagster_home()
        console.print(f"DAGSTER_HOME={home}", highlight=False)
        os.chdir(PROJECT_ROOT)
        dagster = Path(sys.executable).with_name("dagster")
        os.execv(str(dagster), [str(dagster), "dev", "-w", "workspace.yaml"])
