"""A tiny random Llama for tests and benchmarks: real architecture and tokenizer, seconds to load, meaningless
outputs. vLLM's CPU attention needs head_dim 64."""

from __future__ import annotations

from pathlib import Path


def save_tiny_llama(target: Path, tokenizer_dir: Path, max_position_embeddings: int = 256, seed: int = 0) -> Path:
    """A random 2-layer Llama (hidden 128, 2 heads of 64) with the tokenizer and chat template found in
    `tokenizer_dir` (e.g. the converted SmolLM2 checkpoint), saved as float32 safetensors."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        initializer_range=0.5,  # peaked next-token distributions, so greedy choices are not near-ties
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
