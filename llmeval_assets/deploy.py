"""Where evaluation runs execute. Locally nothing extra is needed; on Kubernetes (deploy/k8s, $LLMEVAL_DEPLOYMENT=k8s)
each run of `evaluate_model` is one pod started by dagster-k8s's K8sRunLauncher, and this module sizes that pod from
the registry through the run tag `dagster-k8s/config`.

One run evaluates one model with one engine (in-process executor), so the run pod is the GPU pod: it requests
tensor_parallel_size x pipeline_parallel_size GPUs of one type, host memory for staging the weights, and a
memory-backed /dev/shm (NCCL and vLLM's worker processes exchange tensors there; Kubernetes gives 64 MiB by default).
A model whose GPUs exceed one node cannot be one pod: it runs on a Ray cluster (deploy/ray/README.md)."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from llmeval_assets.registry import Registry, UnknownNameError
from llmeval_assets.registry.hardware import weights_gb
from llmeval_assets.registry.validate import fit_problems

DEPLOYMENT_ENV = "LLMEVAL_DEPLOYMENT"  # "local" (default) or "k8s"
GPU_TYPE_ENV = "LLMEVAL_GPU_TYPE"  # registry GPU type of the cluster's GPU nodes (default: hardware.default_gpu)
K8S_CONFIG_TAG = "dagster-k8s/config"  # dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY (dagster-k8s is optional here)

# Node label values set by NVIDIA GPU feature discovery (`kubectl get nodes -L nvidia.com/gpu.product`). They
# differ by form factor (SXM vs PCIe): pass gpu_product= where your nodes say otherwise.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_PRODUCTS = {
    "H100-80GB": "NVIDIA-H100-80GB-HBM3",
    "H200-141GB": "NVIDIA-H200",
    "A100-80GB": "NVIDIA-A100-SXM4-80GB",
    "A100-40GB": "NVIDIA-A100-SXM4-40GB",
    "L40S-48GB": "NVIDIA-L40S",
}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

CPUS_PER_GPU = 4  # tokenization, scoring and sandboxed code execution run beside the engine
CPUS_WITHOUT_GPU = 2  # API models: requests, scoring and the judge client only
BASE_MEMORY_GIB = 16  # Python, Dagster, tokenizers, datasets, sandboxes
SHM_GIB = 16
GIB = 2**30


class DeploymentError(ValueError):
    pass


def model_gpus(registry: Registry, model_key: str) -> int:
    """GPUs one engine of the model occupies: tensor_parallel_size x pipeline_parallel_size; 0 for API models."""
    return registry.models[registry.resolve_model(model_key)].gpus


def k8s_run_config(registry: Registry, model_key: str, gpu_type: str | None = None,
                   gpu_product: str | None = None) -> dict[str, Any]:
    """The `dagster-k8s/config` tag value for an evaluation run of `model_key` on nodes with `gpu_type` GPUs (a
    registry hardware name; default hardware.default_gpu). Raises DeploymentError where the model's weights do not
    fit those GPUs or its GPUs exceed one node."""
    key = registry.resolve_model(model_key)
    model = registry.models[key]
    gpu_name = gpu_type or registry.hardware.default_gpu
    if gpu_name not in registry.hardware.gpus:
        raise UnknownNameError(f"unknown GPU type {gpu_name!r}; known: {', '.join(registry.hardware.gpus)}")
    gpus = model_gpus(registry, key)
    if gpus == 0:
        resources = {"cpu": str(CPUS_WITHOUT_GPU), "memory": f"{BASE_MEMORY_GIB}Gi"}
        return {"container_config": {"resources": {"requests": resources, "limits": {"memory": resources["memory"]}}},
                "pod_template_spec_metadata": {"labels": {"llmeval/model": key}}}

    gpu = registry.hardware.gpus[gpu_name]
    if gpus > gpu.gpus_per_node:
        raise DeploymentError(
            f"{key} needs {gpus} GPUs (tensor_parallel_size {model.tensor_parallel_size} x pipeline_parallel_size "
            f"{model.pipeline_parallel_size}), more than one {gpu_name} node has ({gpu.gpus_per_node}): one run pod "
            f"cannot hold it; evaluate it on a Ray cluster instead (deploy/ray/README.md)")
    problems = fit_problems(key, model, registry.presets[model.preset], registry.hardware, gpu_name)
    if problems:
        raise DeploymentError(f"{key} does not fit on {gpu_name}: {problems[0].message}")
    product = gpu_product or GPU_PRODUCTS.get(gpu_name)
    if product is None:
        raise DeploymentError(f"no {GPU_PRODUCT_LABEL} node label known for GPU type {gpu_name!r}; pass "
                              f"gpu_product= (known: {', '.join(GPU_PRODUCTS)})")

    # vLLM stages each rank's weight shards through host memory, and the page cache holds the checkpoint files.
    memory_gib = BASE_MEMORY_GIB + SHM_GIB + math.ceil(weights_gb(model) * 1e9 / GIB)
    return {
        "container_config": {
            "resources": {
                "requests": {"cpu": str(CPUS_PER_GPU * gpus), "memory": f"{memory_gib}Gi",
                             "nvidia.com/gpu": str(gpus)},
                "limits": {"memory": f"{2 * memory_gib}Gi", "nvidia.com/gpu": str(gpus)},
            },
            "volume_mounts": [{"name": "dshm", "mount_path": "/dev/shm"}],
        },
        "pod_spec_config": {
            "node_selector": {GPU_PRODUCT_LABEL: product},
            "tolerations": [GPU_TOLERATION],
            "volumes": [{"name": "dshm", "empty_dir": {"medium": "Memory", "size_limit": f"{SHM_GIB}Gi"}}],
        },
        "pod_template_spec_metadata": {"labels": {"llmeval/model": key}},
    }


def run_tags(registry: Registry, model_key: str) -> dict[str, str]:
    """Tags an evaluation run of `model_key` needs where it runs ($LLMEVAL_DEPLOYMENT): none locally; on Kubernetes
    its pod's GPUs and resources (for nodes of type $LLMEVAL_GPU_TYPE)."""
    deployment = os.environ.get(DEPLOYMENT_ENV) or "local"
    if deployment == "local":
        return {}
    if deployment != "k8s":
        raise DeploymentError(f"${DEPLOYMENT_ENV}={deployment!r} is not a deployment llmeval knows; use local or k8s")
    config = k8s_run_config(registry, model_key, gpu_type=os.environ.get(GPU_TYPE_ENV) or None)
    return {K8S_CONFIG_TAG: json.dumps(config, sort_keys=True)}
