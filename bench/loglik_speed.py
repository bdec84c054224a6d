"""Log-likelihood scoring speed: llmeval's transformers scorer (each shared context computed once) against
lm-evaluation-harness 0.4.13's HF backend (batch 32), one after the other in this process, on the same items and
requests: ARC-Challenge and HellaSwag, the first --limit test items each (HellaSwag's are its validation split),
0-shot log-likelihood, SmolLM2-135M-Instruct in float32 on CPU.

Prints both wall times (model load + scoring), their ratio (target <= 0.4), the per-item agreement of the
predicted choice for acc and acc_norm (target >= 99.5%), max |delta log-likelihood|, and the hardware-independent
figure: prompt tokens fed to the model per item. llmeval feeds each context once and each continuation but its
last token (a target only); lm-eval feeds context + continuation but its last token per choice. The issue's
reference figure, lm-eval's sum over choices of (context + continuation), is printed beside them.

Run it under the machine's lock with nothing else heavy running:
    flock /tmp/llmeval-vllm.lock .venv/bin/python bench/loglik_speed.py [--limit 1000]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lm_eval_reference import (
    hf_lm,
    lm_eval_loglikelihoods,
    loglikelihood_requests,
    picks,
    predictions_from,
    smollm2,
    task,
)

from llmeval_assets.engine.tokenization import RequestTokenizer
from llmeval_assets.engine.transformers_engine import DEFAULT_MAX_BATCH_TOKENS, TransformersEngine
from llmeval_assets.registry import load_registry

DATASETS = ("arc_challenge", "hellaswag")
MAX_MODEL_LEN = 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1000, help="first N test items of each dataset")
    parser.add_argument("--batch-size", type=int, default=32, help="lm-eval's HF batch size")
    parser.add_argument("--max-batch-tokens", type=int, default=DEFAULT_MAX_BATCH_TOKENS,
                        help="llmeval scorer: padded tokens per forward pass")
    args = parser.parse_args()

    checkpoint = smollm2()
    tasks = [task(dataset, args.limit) for dataset in DATASETS]

    began = time.perf_counter()
    lm = hf_lm(checkpoint, args.batch_size, MAX_MODEL_LEN)
    reference = {t.dataset: lm_eval_loglikelihoods(lm, loglikelihood_requests(t)) for t in tasks}
    lm_eval_s = time.perf_counter() - began
    encoder = RequestTokenizer(lm.tokenizer)
    del lm
    gc.collect()

    settings = load_registry().engine_settings("smollm2_135m").with_overrides(
        dtype="float32", max_model_len=MAX_MODEL_LEN, loglikelihood_backend="transformers")
    began = time.perf_counter()
    engine = TransformersEngine(settings, checkpoint, max_batch_tokens=args.max_batch_tokens)
    ours, computed = {}, {}
    for t in tasks:
        before = engine.tokens_computed
        ours[t.dataset] = t.benchmark.predict(engine, t.items, t.spec)
        computed[t.dataset] = engine.tokens_computed - before
    llmeval_s = time.perf_counter() - began
    engine.close()

    rows = []
    for t in tasks:
        theirs = predictions_from(t, [logprob for logprob, _ in reference[t.dataset]])
        mine = ours[t.dataset]
        delta = max(abs(a - b) for p, q in zip(mine, theirs, strict=True)
                    for a, b in zip(p.logprobs, q.logprobs, strict=True))
        mine_picks, their_picks = picks(t, mine), picks(t, theirs)
        agree = {metric: sum(a[metric] == b[metric] for a, b in zip(mine_picks, their_picks, strict=True))
                 / len(t.items) for metric in t.spec.metrics}
        requests = loglikelihood_requests(t)
        request_tokens = sum(len(c) + len(x) for c, x in (encoder.encode_pair(r.context, r.continuation)
                                                          for r in requests))
        lm_eval_fed = request_tokens - len(requests)  # it drops each request's last token
        rows.append({"dataset": t.dataset, "items": len(t.items), "agreement": agree,
                     "max_abs_delta_loglik": delta,
                     "prompt_tokens_per_item": {"llmeval": computed[t.dataset] / len(t.items),
                                                "lm_eval": lm_eval_fed / len(t.items),
                                                "lm_eval_context_plus_continuation": request_tokens / len(t.items)}})
    ratio = llmeval_s / lm_eval_s
    for row in rows:
        tokens = row["prompt_tokens_per_item"]
        print(f"{row['dataset']:<14} items {row['items']:>5}  agreement "
              + "  ".join(f"{m} {v:.2%}" for m, v in row["agreement"].items())
              + f"  max|dll| {row['max_abs_delta_loglik']:.2e}  tokens fed/item llmeval {tokens['llmeval']:.1f}"
              f" vs lm-eval {tokens['lm_eval']:.1f} ({tokens['llmeval'] / tokens['lm_eval']:.2f}x; lm-eval's"
              f" context + continuation {tokens['lm_eval_context_plus_continuation']:.1f})")
    print(f"wall time: lm-eval HF (batch {args.batch_size}) {lm_eval_s:.1f} s, llmeval transformers scorer "
          f"{llmeval_s:.1f} s, ratio {ratio:.2f} (target <= 0.4)")
    met = ratio <= 0.4 and all(v >= 0.995 for row in rows for v in row["agreement"].values())
    print(json.dumps({"lm_eval_s": round(lm_eval_s, 1), "llmeval_s": round(llmeval_s, 1), "ratio": round(ratio, 3),
                      "targets_met": met, "datasets": rows}))


if __name__ == "__main__":
    main()
