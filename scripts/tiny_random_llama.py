"""Writes a tiny random Llama (2 layers, random weights) with SmolLM2's tokenizer and chat template to the given
directory: the demo's second model, a FIXTURE whose scores are chance level (it exists so that `llmeval compare`
has two models to compare offline). Usage: .venv/bin/python scripts/tiny_random_llama.py DIR"""

import sys
from pathlib import Path

from llmeval_assets.engine.tiny_model import save_tiny_llama
from llmeval_assets.engine.weights import resolve_checkpoint
from llmeval_assets.registry import load_registry

if __name__ == "__main__":
    target = Path(sys.argv[1])
    if not (target / "config.json").is_file():
        registry = load_registry()
        smollm2 = resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)
        save_tiny_llama(target, smollm2.path, max_position_embeddings=2048)
    print(target)
