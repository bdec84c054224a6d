"""Progress of long steps. Assets report (task, done, total) here as well as to the Dagster log; the CLI attaches a
terminal progress display for the runs it executes in its own process."""

from __future__ import annotations

from collections.abc import Callable

ProgressHook = Callable[[str, int, int], None]  # (task description, done, total)

_hooks: list[ProgressHook] = []


def add_hook(hook: ProgressHook) -> None:
    _hooks.append(hook)


def remove_hook(hook: ProgressHook) -> None:
    _hooks.remove(hook)


def report(task: str, done: int, total: int) -> None:
    for hook in _hooks:
        hook(task, done, total)
