"""Entry point of the `llmeval` console script."""

from __future__ import annotations

import importlib
import logging
import sys

import typer

app = typer.Typer(
    name="llmeval",
    help="Evaluate open LLMs on standard benchmarks: plan, run (through Dagster + vLLM), report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # help texts are plain text: with rich markup, "[[rating]]" or "[a|b]" would be eaten as tags
    rich_markup_mode=None,
)

# Files found broken on disk and moved aside (llmeval_assets.paths.quarantine) are said once, as warnings
_warnings = logging.StreamHandler(sys.stderr)
_warnings.setFormatter(logging.Formatter("warning: %(message)s"))
logging.getLogger("llmeval").addHandler(_warnings)
logging.getLogger("llmeval").setLevel(logging.WARNING)
logging.getLogger("llmeval").propagate = False  # said once, whatever else configures the root logger

# Each module defines `register(app)`; the order is the order of `llmeval --help`.
_COMMAND_MODULES = ("registry", "engine", "benchmarks", "sandbox", "pipeline", "results", "deploy")

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"llmeval_assets.cli.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"llmeval_assets.cli.{_name}":
            raise
        continue
    _module.register(app)


if __name__ == "__main__":
    app()
