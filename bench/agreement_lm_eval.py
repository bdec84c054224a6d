"""Agreement with lm-evaluation-harness 0.4.13 (its HF backend, installed outside .venv by lm_eval_reference.py)
on the same items, requests and settings, SmolLM2-135M-Instruct in float32 on CPU:

- ARC-Challenge (0-shot), HellaSwag (0-shot) and MMLU (0-shot, single-pass letters in llmeval, four requests per
  question in lm-eval), log-likelihood: per-item agreement of the predicted choice (acc and acc_norm), max
  |delta log-likelihood|; target >= 99.5% on every task;
- GSM8K, 5-shot greedy with fixed exemplars (the first five of Wei et al.'s chain-of-thought exemplars, the
  cot variant's prompt), 256 tokens: identical generations (target >= 95%) and the same correctness per item
  (strict_match and flexible_extract) on all.

llmeval runs through its benchmarks and its vLLM engine (today's default path; `--llmeval-backend transformers`
scores the log-likelihood tasks with the transformers scorer instead). The two run one after the other.

    flock /tmp/llmeval-vllm.lock .venv/bin/python bench/agreement_lm_eval.py [--limit 300] [--gsm8k-limit 100]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lm_eval_reference import (
    MODEL_KEY,
    Task,
    hf_lm,
    lm_eval_generations,
    lm_eval_loglikelihoods,
    loglikelihood_requests,
    picks,
    predictions_from,
    smollm2,
    task,
)

from llmeval_assets.benchmarks.base import Prediction
from llmeval_assets.registry import load_registry

MAX_MODEL_LEN = 2048
LOGLIKELIHOOD_TASKS = (("arc_challenge", None, None), ("hellaswag", None, None), ("mmlu", "0shot", None))
GSM8K = ("gsm8k", "cot_8shot", 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=300, help="first N test items of each log-likelihood task")
    parser.add_argument("--gsm8k-limit", type=int, default=100, help="first N GSM8K test items")
    parser.add_argument("--llmeval-backend", choices=("vllm", "transformers"), default="vllm",
                        help="llmeval's engine for the log-likelihood tasks")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")

    checkpoint = smollm2()
    loglik_tasks = [task(d, args.limit, v, n) for d, v, n in LOGLIKELIHOOD_TASKS]
    gsm8k = task(GSM8K[0], args.gsm8k_limit, GSM8K[1], GSM8K[2])

    lm = hf_lm(checkpoint, 32, MAX_MODEL_LEN)
    reference = {t.dataset: predictions_from(t, [lp for lp, _ in lm_eval_loglikelihoods(lm, loglikelihood_requests(t))])
                 for t in loglik_tasks}
    reference_texts = lm_eval_generations(lm, gsm8k.requests)
    del lm
    gc.collect()

    settings = load_registry().engine_settings(MODEL_KEY).with_overrides(
        dtype="float32", max_model_len=MAX_MODEL_LEN, gpu_memory_utilization=0.2, enforce_eager=True,
        loglikelihood_backend=args.llmeval_backend)
    ours = {}
    if args.llmeval_backend == "transformers":
        from llmeval_assets.engine.transformers_engine import TransformersEngine

        scorer = TransformersEngine(settings, checkpoint)
        ours = {t.dataset: t.benchmark.predict(scorer, t.items, t.spec) for t in loglik_tasks}
        scorer.close()
    from llmeval_assets.engine.vllm_engine import VLLMEngine

    engine = VLLMEngine(settings, checkpoint)
    if not ours:
        ours = {t.dataset: t.benchmark.predict(engine, t.items, t.spec) for t in loglik_tasks}
    generated = gsm8k.benchmark.predict(engine, gsm8k.items, gsm8k.spec)
    engine.close()

    rows = [loglikelihood_row(t, ours[t.dataset], reference[t.dataset]) for t in loglik_tasks]
    rows.append(generation_row(gsm8k, generated, reference_texts))
    for row in rows:
        print(json.dumps(row))
    met = all(v >= 0.995 for row in rows[:-1] for v in row["agreement"].values()) and (
        rows[-1]["identical_generations"] >= 0.95 and all(v == 1.0 for v in rows[-1]["same_correctness"].values()))
    print(f"targets met: {met}")


def loglikelihood_row(t: Task, mine: list[Prediction], theirs: list[Prediction]) -> dict:
    delta = max(abs(a - b) for p, q in zip(mine, theirs, strict=True)
                for a, b in zip(p.logprobs, q.logprobs, strict=True))
    mine_picks, their_picks = picks(t, mine), picks(t, theirs)
    agreement = {m: sum(a[m] == b[m] for a, b in zip(mine_picks, their_picks, strict=True)) / len(t.items)
                 for m in t.spec.metrics if m in mine_picks[0]}
    return {"dataset": t.dataset, "variant": t.spec.variant, "shots": t.spec.num_fewshot, "items": len(t.items),
            "agreement": agreement, "max_abs_delta_loglik": delta}


def generation_row(t: Task, mine: list[Prediction], reference_texts: list[str]) -> dict:
    theirs = [Prediction(item_id=p.item_id, outputs=(text,)) for p, text in zip(mine, reference_texts, strict=True)]
    identical = sum(p.outputs[0] == text for p, text in zip(mine, reference_texts, strict=True)) / len(mine)
    my_scores = t.benchmark.score(t.items, mine, t.spec)
    their_scores = t.benchmark.score(t.items, theirs, t.spec)
    same = {m: sum(a.values[m] == b.values[m] for a, b in zip(my_scores, their_scores, strict=True)) / len(mine)
            for m in t.spec.metrics}
    means = {who: {m: sum(s.values[m] for s in scores) / len(scores) for m in t.spec.metrics}
             for who, scores in (("llmeval", my_scores), ("lm_eval", their_scores))}
    return {"dataset": t.dataset, "variant": f"{t.spec.variant} with {t.spec.num_fewshot} fixed exemplars",
            "items": len(mine), "identical_generations": identical, "same_correctness": same, "scores": means}


if __name__ == "__main__":
    main()
