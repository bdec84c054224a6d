"""A tiny random Llama for tests and benchmarks: real architecture and tokenizer, seconds to load, meaningless
outputs. vLLM's CPU attention needs head_dim 64."""

from __future__ import annotations

import json
from pathlib import Path

# The BOS of a tiny model that uses one (SmolLM2's own "<|endoftext|>", id 0, which SmolLM2 never adds).
FIXTURE_BOS = "<|endoftext|>"


def save_tiny_llama(target: Path, tokenizer_dir: Path, max_position_embeddings: int = 256, seed: int = 0,
                    add_bos: bool = False) -> Path:
    """A random 2-layer Llama (hidden 128, 2 heads of 64) with the tokenizer and chat template found in
    `tokenizer_dir` (e.g. the converted SmolLM2 checkpoint), saved as float32 safetensors. With `add_bos`, the
    tokenizer prepends FIXTURE_BOS to every encoding and the chat template writes it too, as Llama-3, Mistral and
    Gemma do (the case where a careless pipeline sends two BOS tokens)."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if add_bos:
        tokenizer.save_pretrained(target)
        _make_tokenizer_add_bos(target)
        tokenizer = AutoTokenizer.from_pretrained(target)
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


def _make_tokenizer_add_bos(directory: Path) -> None:
    """Rewrite a saved SmolLM2 tokenizer so that it adds FIXTURE_BOS (its post-processor) and its chat template
    starts with it."""
    tokenizer_json = directory / "tokenizer.json"
    data = json.loads(tokenizer_json.read_text())
    bos_id = next(token["id"] for token in data["added_tokens"] if token["content"] == FIXTURE_BOS)
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": FIXTURE_BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": FIXTURE_BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {FIXTURE_BOS: {"id": FIXTURE_BOS, "ids": [bos_id], "tokens": [FIXTURE_BOS]}},
    }
    tokenizer_json.write_text(json.dumps(data, ensure_ascii=False))
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.update(bos_token=FIXTURE_BOS, add_bos_token=True)
    config_path.write_text(json.dumps(config, indent=2))
    template = directory / "chat_template.jinja"
    template.write_text("{{ bos_token }}" + template.read_text())
