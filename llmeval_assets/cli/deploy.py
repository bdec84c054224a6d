"""Deployment commands: `deploy k8s-config` prints the Kubernetes run tag of a model (deploy/k8s/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from llmeval_assets.cli.registry import RegistryOption, fail, load_or_exit
from llmeval_assets.deploy import K8S_CONFIG_TAG, DeploymentError, k8s_run_config
from llmeval_assets.registry import UnknownNameError

deploy_app = typer.Typer(help="Deployment helpers (Kubernetes, Ray)", no_args_is_help=True)


@deploy_app.command("k8s-config")
def k8s_config_command(
    model: str = typer.Option(..., "--model", "-m", help="Registry key or alias"),
    gpu: str | None = typer.Option(None, "--gpu", help="GPU type of the nodes (default: hardware.default_gpu)"),
    gpu_product: str | None = typer.Option(None, "--gpu-product",
                                              help="nvidia.com/gpu.product node label, where yours differs"),
    registry_dir: Path | None = RegistryOption,
) -> None:
    """Print the `dagster-k8s/config` run tag for a model's evaluation run: GPUs = tensor_parallel_size x
    pipeline_parallel_size, memory from the weights, node selector and toleration for the GPU type."""
    registry = load_or_exit(registry_dir)
    try:
        config = k8s_run_config(registry, model, gpu_type=gpu, gpu_product=gpu_product)
    except (UnknownNameError, DeploymentError) as exc:
        fail(str(exc))
    typer.echo(json.dumps({K8S_CONFIG_TAG: config}, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy")
