"""Overhead of llmeval's engine layer over calling vllm.LLM directly.

The same requests (--generations greedy generations, --loglikelihoods log-likelihood requests: --loglikelihoods/4
contexts sharing a few-shot prefix, 4 continuations each) go once through VLLMEngine and once straight to the
`vllm.LLM` inside that same engine, in alternating order over --rounds rounds, with the prefix cache reset before
every timed pass. The direct path does what a user of vllm.LLM would: text prompts for generation; for
log-likelihood, tokenize context and whole, one `generate` with prompt_logprobs=1, sum the continuation's
log-probs. Both paths must give the same answers. The last line is `throughput_ratio=<llmeval / direct>`.

Usage: .venv/bin/python bench/engine_overhead.py [--model tiny|smollm2] [--generations 500] [--loglikelihoods 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from llmeval_assets.engine.requests import GenerateRequest, LoglikelihoodRequest, Sampling
from llmeval_assets.engine.tiny_model import save_tiny_llama
from llmeval_assets.engine.vllm_engine import VLLMEngine
from llmeval_assets.engine.weights import local_checkpoint, resolve_checkpoint
from llmeval_assets.registry import load_registry
from llmeval_assets.registry.presets import EngineSettings

FEWSHOT = "".join(f"Question: What is {i} plus {i + 3}?\nAnswer: {2 * i + 3}\n\n" for i in range(3))
ENDINGS = (" went to the market.", " slept all afternoon", " is a prime number.", " and then it rained heavily")


def build_requests(generations: int, loglikelihoods: int, max_tokens: int):
    sampling = Sampling(max_tokens=max_tokens, temperature=0.0)
    generate = [
        GenerateRequest(f"g{i}", sampling, prompt=f"Story number {i}: once upon a time, a {i % 17}-legged cat")
        for i in range(generations)
    ]
    loglikelihood = [
        LoglikelihoodRequest(f"l{i}-{j}", f"{FEWSHOT}Question: Tell me about item {i}.\nAnswer: Item {i}", ending)
        for i in range(loglikelihoods // len(ENDINGS))
        for j, ending in enumerate(ENDINGS)
    ]
    return generate, loglikelihood


def through_llmeval(engine: VLLMEngine, generate, loglikelihood, timings: dict[str, float]):
    started = time.perf_counter()
    texts = [r.completions[0].text for r in engine.generate(generate)]
    timings["generate"] = time.perf_counter() - started
    logprobs = [r.logprob for r in engine.loglikelihood(loglikelihood)]
    timings["loglikelihood"] = time.perf_counter() - started - timings["generate"]
    return texts, logprobs


def straight_to_vllm(llm, generate, loglikelihood, max_tokens: int, timings: dict[str, float]):
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    started = time.perf_counter()
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, seed=1234)
    texts = [o.outputs[0].text for o in llm.generate([r.prompt for r in generate], params, use_tqdm=False)]
    timings["generate"] = time.perf_counter() - started
    tokenizer = llm.get_tokenizer()
    wholes, splits = [], []
    for request in loglikelihood:
        wholes.append(tokenizer.encode(request.context + request.continuation))
        splits.append(len(tokenizer.encode(request.context)))
    outputs = llm.generate(
        [TokensPrompt(prompt_token_ids=whole) for whole in wholes],
        SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1),
        use_tqdm=False,
    )
    logprobs = [
        sum(output.prompt_logprobs[i][whole[i]].logprob for i in range(split, len(whole)))
        for output, whole, split in zip(outputs, wholes, splits, strict=True)
    ]
    timings["loglikelihood"] = time.perf_counter() - started - timings["generate"]
    return texts, logprobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("tiny", "smollm2"), default="tiny")
    parser.add_argument("--generations", type=int, default=500)
    parser.add_argument("--loglikelihoods", type=int, default=2000)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    # Unpinned vLLM CPU worker (it pins to core 0 by default): a shared small machine would otherwise starve it.
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")

    registry = load_registry()
    smollm2 = resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)
    scratch = tempfile.TemporaryDirectory(prefix="llmeval-bench-")
    if args.model == "tiny":
        checkpoint = local_checkpoint("tiny_llama", save_tiny_llama(Path(scratch.name), smollm2.path, 512))
        max_model_len, memory = 512, 0.1
    else:
        checkpoint, max_model_len, memory = smollm2, 2048, 0.2
    settings = EngineSettings(
        model_key=checkpoint.model_key, hf_id=None, revision=None, dtype="float32", quantization=None,
        tensor_parallel_size=1, gpu_memory_utilization=memory, max_model_len=max_model_len, max_num_seqs=128,
        enable_prefix_caching=True, enforce_eager=True, swap_space_gb=0.0, preset="bench",
    )  # fmt: skip
    engine = VLLMEngine(settings, checkpoint)
    print(f"model={checkpoint.model_key} engine_start_s={engine.load_seconds:.1f}")
    llm = engine._llm  # the very vllm.LLM the engine wraps: same process, same scheduler, same caches
    generate, loglikelihood = build_requests(args.generations, args.loglikelihoods, args.max_tokens)
    print(f"requests: {len(generate)} generations (max_tokens {args.max_tokens}), {len(loglikelihood)} log-likelihoods")

    warm_generate, warm_loglikelihood = generate[:16], loglikelihood[:16]
    through_llmeval(engine, warm_generate, warm_loglikelihood, {})
    straight_to_vllm(llm, warm_generate, warm_loglikelihood, args.max_tokens, {})

    seconds = {"llmeval": 0.0, "direct": 0.0}
    phase_seconds = {(path, phase): 0.0 for path in seconds for phase in ("generate", "loglikelihood")}
    answers = {}
    for round_index in range(args.rounds):
        order = ("llmeval", "direct") if round_index % 2 == 0 else ("direct", "llmeval")
        for path in order:
            llm.reset_prefix_cache()
            timings: dict[str, float] = {}
            if path == "llmeval":
                answers[path] = through_llmeval(engine, generate, loglikelihood, timings)
            else:
                answers[path] = straight_to_vllm(llm, generate, loglikelihood, args.max_tokens, timings)
            seconds[path] += sum(timings.values())
            for phase, elapsed in timings.items():
                phase_seconds[path, phase] += elapsed
            print(f"round {round_index + 1} {path:8s} generate {timings['generate']:7.2f} s  "
                  f"loglikelihood {timings['loglikelihood']:7.2f} s")  # fmt: skip
    engine.close()
    scratch.cleanup()

    (llmeval_texts, llmeval_logprobs), (direct_texts, direct_logprobs) = answers["llmeval"], answers["direct"]
    assert llmeval_texts == direct_texts, "generations differ between the two paths"
    worst = max(abs(a - b) for a, b in zip(llmeval_logprobs, direct_logprobs, strict=True))
    assert worst < 1e-3, f"log-likelihoods differ by up to {worst}"
    total = len(generate) + len(loglikelihood)
    for path in ("llmeval", "direct"):
        print(f"{path:8s} {seconds[path]:7.2f} s for {args.rounds} x {total} requests "
              f"({args.rounds * total / seconds[path]:.1f} requests/s)")  # fmt: skip
    for phase in ("generate", "loglikelihood"):
        print(f"{phase} only: ratio {phase_seconds['direct', phase] / phase_seconds['llmeval', phase]:.3f}")
    print(f"throughput_ratio={seconds['direct'] / seconds['llmeval']:.3f}")


if __name__ == "__main__":
    main()
