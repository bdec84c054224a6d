"""Model weight commands: `check-models` (can each model be evaluated here? no downloads) and `prepare-model`
(download or convert one model's weights now). vLLM and torch are imported only when a command needs them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmeval_assets.cli.registry import JsonOption, RegistryOption, console, emit_json, fail, load_or_exit
from llmeval_assets.registry import UnknownNameError

STATUS_STYLE = {
    "available": "green",
    "downloadable": "cyan",
    "gated": "yellow",
    "not_found": "red",
    "not_evaluable": "dim",
    "unknown": "magenta",
}


def check_models_command(
    category: str | None = typer.Option(None, "--category", "-c", help="Only the models of this category"),
    as_json: bool = JsonOption,
    registry_dir: Path | None = RegistryOption,
) -> None:
    """Per model: available locally / downloadable / gated (needs licence + HF_TOKEN) / not found / not evaluable,
    with the reason. Downloads nothing."""
    from llmeval_assets.engine.weights import check_models

    registry = load_or_exit(registry_dir)
    keys = list(registry.models)
    if category:
        try:
            keys = list(registry.categories[registry.resolve_category(category)].models)
        except UnknownNameError as exc:
            fail(str(exc))
    statuses = check_models({key: registry.models[key] for key in keys}, registry.root)
    if as_json:
        emit_json([status.as_dict() for status in statuses])
        return
    table = Table("model", "status", "reason", title=f"{len(statuses)} models")
    for status in statuses:
        style = STATUS_STYLE[status.status.value]
        table.add_row(status.key, f"[{style}]{status.status.value}[/{style}]", status.reason)
    console.print(table)


def prepare_model_command(
    model: str = typer.Argument(..., help="Registry key or alias"),
    registry_dir: Path | None = RegistryOption,
) -> None:
    """Download (hub) or convert (offline GGUF) one model's weights now and print the checkpoint directory."""
    from llmeval_assets.engine.weights import WeightsError, resolve_checkpoint

    registry = load_or_exit(registry_dir)
    try:
        key = registry.resolve_model(model)
        checkpoint = resolve_checkpoint(key, registry.models[key], registry.root)
    except (UnknownNameError, WeightsError) as exc:
        fail(str(exc))
    console.print(f"{checkpoint.model_key}: {checkpoint.source} revision {checkpoint.revision}", highlight=False)
    typer.echo(str(checkpoint.path))


def register(app: typer.Typer) -> None:
    app.command("check-models")(check_models_command)
    app.command("prepare-model")(prepare_model_command)
