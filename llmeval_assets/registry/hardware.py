"""Will a model's weights fit on its GPUs? The seed mixed size conventions (1 GB per B for some models, bf16 bytes
for others) and ran an unquantized 70B at tensor_parallel_size 1; this check uses one formula for all."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmeval_assets.registry.schema import DType, GPUType, ModelEntry

BYTES_PER_PARAM = {DType.float32: 4.0, DType.bfloat16: 2.0, DType.float16: 2.0}


def bytes_per_param(model: ModelEntry) -> float:
    bits = model.quantization.bits_per_param
    return bits / 8 if bits is not None else BYTES_PER_PARAM[model.dtype]


def weights_gb(model: ModelEntry) -> float:
    """Weight memory in GB (1e9 bytes): parameters (billions) x bytes per parameter. A vision-language model's
    vision tower is counted in its dtype (quantized checkpoints leave the tower unquantized)."""
    tower_b = model.vision.tower_params_b if model.vision is not None else 0.0
    return ((model.params_b or 0.0) - tower_b) * bytes_per_param(model) + tower_b * BYTES_PER_PARAM[model.dtype]


@dataclass(frozen=True)
class Fit:
    weights_gb: float
    usable_gb: float  # for weights, over all tensor-parallel GPUs
    min_tensor_parallel_size: int | None  # smallest power of two that fits on one node; None if none does

    @property
    def fits(self) -> bool:
        return self.weights_gb <= self.usable_gb


def usable_gb_per_gpu(gpu: GPUType, gpu_memory_utilization: float, overhead_gb: float) -> float:
    return gpu.memory_gb * gpu_memory_utilization - overhead_gb


def check_fit(model: ModelEntry, gpus: int, gpu_memory_utilization: float, gpu: GPUType,
              overhead_gb: float) -> Fit:
    """Do the weights fit on `gpus` GPUs of this type (all the GPUs of one engine: tensor x pipeline parallel)?"""
    per_gpu = usable_gb_per_gpu(gpu, gpu_memory_utilization, overhead_gb)
    need = weights_gb(model)
    min_tp = None
    if per_gpu > 0:
        tp = 2 ** max(0, math.ceil(math.log2(max(need / per_gpu, 1.0))))
        min_tp = tp if tp <= gpu.gpus_per_node else None
    return Fit(weights_gb=need, usable_gb=gpus * per_gpu, min_tensor_parallel_size=min_tp)
