"""`llmeval sandbox`: run one completion of a code benchmark (HumanEval, MBPP) in the sandbox and show why it
passed or failed, test by test. The benchmark module is imported inside the command, so `llmeval --help` stays
fast."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from llmeval_assets.sandbox import ExecutionResult

class CodeDataset(str, Enum):
    """The benchmarks whose items carry tests the sandbox runs."""

    humaneval = "humaneval"
    mbpp = "mbpp"


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)


def sandbox(
    dataset: CodeDataset = typer.Option(..., "--dataset", help="Benchmark whose item and tests to use"),
    task_id: str = typer.Option(..., "--task-id", help="Item id, e.g. HumanEval/0 or 11 (MBPP)"),
    completion_file: Path = typer.Option(
        ..., "--completion-file", help="The model's completion, as the benchmark scores it; '-' reads stdin"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Run one completion with its tests in the sandbox and print the outcome (exit status 1 if it fails)."""
    from llmeval_assets.benchmarks import get_benchmark
    from llmeval_assets.benchmarks.humaneval import HumanEval
    from llmeval_assets.benchmarks.mbpp import MBPP
    from llmeval_assets.registry import RegistryError, load_registry
    from llmeval_assets.sandbox import execute
    from llmeval_assets.snapshots import source_args

    try:
        completion = sys.stdin.read() if str(completion_file) == "-" else completion_file.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read the completion file {completion_file}: {exc.strerror}")
    try:
        offline_args = source_args(load_registry(), dataset.value, "offline")
    except RegistryError as exc:
        _fail(str(exc))
    benchmark = get_benchmark(dataset.value)
    items = {item.item_id: item for item in benchmark.load_items("offline", **offline_args)}
    if task_id not in items:
        examples = ", ".join(list(items)[:3])
        _fail(f"{dataset.value} has no item {task_id!r} ({len(items)} items, e.g. {examples})")
    if not isinstance(benchmark, HumanEval | MBPP):
        _fail(f"{dataset.value} has no tests to run")
    result = execute(benchmark.build_program(items[task_id], completion))

    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _print_result(result)
    if not result.passed:
        raise typer.Exit(1)


def _print_result(result: ExecutionResult) -> None:
    verdict = "PASSED" if result.passed else f"NOT PASSED ({result.status})"
    typer.echo(f"{result.program_id}: {verdict} in {result.duration_s:.2f} s, isolation {result.isolation}")
    if result.message and all(result.message != f"{test.name}: {test.message}" for test in result.tests):
        typer.echo(f"  {result.message}")  # why the run as a whole stopped (a timeout, a crash, ...)
    for test in result.tests:
        typer.echo(f"  {test.status:<14} {test.name}" + (f": {test.message}" if test.message else ""))
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text:
            typer.echo(f"--- {name} ---\n{text.rstrip()}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
