"""Token ids of every request path, llmeval's (engine/tokenization.py) against lm-evaluation-harness's own HF
backend (HFLM.tok_encode, _encode_pair, tok_batch_encode, apply_chat_template), on the tiny Llama whose tokenizer
adds a BOS and whose chat template writes one (a FIXTURE with random weights; only its tokenizer matters here).
Prints one line per path, "identical" or "DIFFERENT", and exits non-zero on any difference.

lm-eval is not a project dependency: install it beside the project, e.g.
    pip install --target /tmp/lm-eval-deps --no-deps lm_eval==0.4.13
    PYTHONPATH=$PWD:/tmp/lm-eval-deps .venv/bin/python bench/tokens_vs_lm_eval.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from llmeval_assets.engine.requests import GenerateRequest, Sampling
from llmeval_assets.engine.tiny_model import save_tiny_llama
from llmeval_assets.engine.tokenization import RequestTokenizer
from llmeval_assets.engine.weights import resolve_checkpoint
from llmeval_assets.registry import load_registry

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
PREFIX = "The best answer is"


def main() -> int:
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    registry = load_registry()
    smollm2 = resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)
    path = save_tiny_llama(Path(tempfile.mkdtemp()), smollm2.path, 2048, add_bos=True)
    lm = HFLM(pretrained=str(path), device="cpu", dtype="float32", batch_size=1)
    ours = RequestTokenizer(AutoTokenizer.from_pretrained(path))

    plain = "Question: 2 + 2 = ?\nAnswer:"
    chat = lm.apply_chat_template(QUESTION, add_generation_prompt=True)
    prefilled = lm.apply_chat_template([*QUESTION, {"role": "assistant", "content": PREFIX}],
                                       add_generation_prompt=False)
    checks = {
        "plain prompt": (lm.tok_encode(plain), ours.encode(plain)),
        "chat": (lm.tok_encode(chat), ours.generation_ids(GenerateRequest("c", Sampling(), messages=tuple(QUESTION)))),
        "prefilled chat": (lm.tok_encode(prefilled), ours.generation_ids(
            GenerateRequest("p", Sampling(), messages=tuple(QUESTION), assistant_prefix=PREFIX))),
        "generate_until batch (chat)": (lm.tok_batch_encode([chat])[0][0].tolist(), ours.encode(chat)),
    }
    for name, (context, continuation) in {"log-likelihood, plain": ("Question: Hi\nAnswer: ", "Paris"),
                                          "log-likelihood, chat": (chat, "Paris"),
                                          "choice after a prefilled reply": (prefilled, " A")}.items():
        checks[name] = ([list(part) for part in lm._encode_pair(context, continuation)],
                        [list(part) for part in ours.encode_pair(context, continuation)])
    differing = 0
    for name, (theirs, mine) in checks.items():
        same = theirs == mine
        differing += not same
        print(f"{name}: {'identical' if same else f'DIFFERENT lm-eval={theirs} llmeval={mine}'}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
