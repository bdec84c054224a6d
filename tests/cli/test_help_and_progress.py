"""Help texts print as written (no markup eats "[[rating]]" or "(a|b)"), and progress reads right when the output is
not a terminal (CI logs, `make demo > log`)."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from llmeval_assets.cli.main import app
from llmeval_assets.cli.pipeline import ProgressLines

COMMANDS = sorted(command.name or command.callback.__name__ for command in app.registered_commands)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_help_prints_as_written(command):
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    shown = _squash(result.output)
    click_command = typer.main.get_command(app).commands[command]
    declared = [p.help for p in click_command.params if getattr(p, "help", None)]
    assert declared or command in {"ui"}
    for help_text in declared:
        assert _squash(help_text) in shown, f"{command}: {help_text!r} is not shown as written"


def test_the_judge_fallback_help_keeps_its_brackets():
    result = CliRunner().invoke(app, ["evaluate", "--help"], terminal_width=400)
    assert "When a judgment has no [[rating]], rate" in _squash(result.output)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_report_counts_rate_and_time_left_at_most_every_few_seconds():
    lines: list[str] = []
    clock = Clock()
    progress = ProgressLines(lambda text, **_: lines.append(text), every_s=5.0, clock=clock)
    progress.update("m / gsm8k", 0, 100)
    clock.now = 2.0
    progress.update("m / gsm8k", 10, 100)  # within 5 s of the last line: held back
    clock.now = 10.0
    progress.update("m / gsm8k", 50, 100)
    clock.now = 11.0
    progress.update("m / gsm8k", 100, 100)  # the last update of a step always prints
    assert lines == ["m / gsm8k: 0/100",
                     "m / gsm8k: 50/100, 5.00/s, about 10 s left",
                     "m / gsm8k: 100/100, 9.09/s (done in 11 s)"]
