"""Failures of a real vLLM engine on CPU: a checkpoint that does not load, and the EngineCore process dying in the
middle of a batch (killed here with SIGKILL)."""

from __future__ import annotations

import os
import shutil
import signal
import threading

import pytest

from llmeval_assets.engine.base import EngineError
from llmeval_assets.engine.requests import GenerateRequest, Sampling
from llmeval_assets.engine.vllm_engine import VLLMEngine
from llmeval_assets.engine.weights import Checkpoint

from .conftest import TINY_KEY, TINY_MAX_MODEL_LEN, alive, cpu_settings, engine_core_pid

pytestmark = pytest.mark.vllm


def test_checkpoint_that_does_not_load(tmp_path, tiny_checkpoint):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint.path, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(EngineError, match=rf"vLLM could not load model 'broken' from {broken}"):
        VLLMEngine(cpu_settings("broken", TINY_MAX_MODEL_LEN), Checkpoint("broken", broken, "sha256:x", "local"))


def test_engine_crash_mid_batch_raises_engine_error(tiny_checkpoint):
    engine = VLLMEngine(cpu_settings(TINY_KEY, TINY_MAX_MODEL_LEN), tiny_checkpoint)
    pid = engine_core_pid(engine)
    requests = [GenerateRequest(f"g{i}", Sampling(max_tokens=200), prompt=f"Story {i}:") for i in range(400)]
    killer = threading.Timer(2.0, os.kill, (pid, signal.SIGKILL))
    killer.start()
    try:
        with pytest.raises(EngineError, match="died during a batch of 400 requests"):
            engine.generate(requests)
        with pytest.raises(EngineError):  # the engine stays unusable, with a clear error, not a hang
            engine.generate(requests[:1])
    finally:
        killer.cancel()
        engine.close()
    assert not alive(pid)
