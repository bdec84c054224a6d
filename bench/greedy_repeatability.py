"""Greedy repeatability: the same GSM8K 8-shot generations run twice, with generations reading the prefix cache
(generation_prefix_cache=true, the old behaviour) and skipping it (the default), in one engine.

For each setting: how many of --items greedy generations were identical in the two runs, how many prompt tokens
each run read from the prefix cache, and the seconds per run (what skipping the cache costs). Under the global
lock the timings mean something; the identity counts do in any case.

Usage: .venv/bin/python bench/greedy_repeatability.py [--model smollm2|tiny] [--items 30] [--max-tokens 128]
       [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from llmeval_assets.benchmarks.base import SpecOverrides, get_benchmark
from llmeval_assets.benchmarks.dispatch import spec_engine
from llmeval_assets.engine.tiny_model import save_tiny_llama
from llmeval_assets.engine.vllm_engine import VLLMEngine
from llmeval_assets.engine.weights import local_checkpoint, resolve_checkpoint
from llmeval_assets.paths import PROJECT_ROOT
from llmeval_assets.registry import load_registry
from llmeval_assets.registry.presets import EngineSettings
from llmeval_assets.snapshots import source_args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")

    registry = load_registry(PROJECT_ROOT / "registry")
    smollm2 = resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)
    checkpoint = smollm2 if args.model == "smollm2" else local_checkpoint(
        "tiny_llama", save_tiny_llama(Path(tempfile.mkdtemp()), smollm2.path, 2048))
    settings = EngineSettings(model_key=checkpoint.model_key, hf_id=None, revision=None, dtype=args.dtype,
                              quantization=None, tensor_parallel_size=1, gpu_memory_utilization=0.2,
                              max_model_len=2048, max_num_seqs=64, enable_prefix_caching=True, enforce_eager=True,
                              swap_space_gb=0.0, preset="bench")
    gsm8k = get_benchmark("gsm8k")
    spec = gsm8k.configure("cot_8shot", SpecOverrides(sampling=(("max_tokens", args.max_tokens),)))
    items = [i for i in gsm8k.load_items("offline", **source_args(registry, "gsm8k", "offline"))
             if i.split == "test"][: args.items]

    engine = VLLMEngine(settings, checkpoint)
    cached: list[int] = []
    run_batch = engine._run

    def observed(batch):  # the prompt tokens vLLM served from the prefix cache, per request
        outputs = run_batch(batch)
        cached.extend(output.num_cached_tokens or 0 for output, _ in outputs)
        return outputs

    engine._run = observed  # type: ignore[method-assign]
    print(f"model={args.model} dtype={args.dtype} items={len(items)} max_tokens={args.max_tokens} "
          f"backend={engine.provenance.backend_version}")
    try:
        for reads_cache in (True, False):
            # the setting is read per call, so one engine serves both (the bench's shortcut; runs set it per preset)
            engine.settings = settings.with_overrides(generation_prefix_cache=reads_cache)
            outputs, seconds, cached_per_run = [], [], []
            for _ in range(2):
                cached.clear()
                started = time.perf_counter()
                predictions = gsm8k.predict(spec_engine(engine, spec), items, spec)
                seconds.append(time.perf_counter() - started)
                outputs.append([p.outputs for p in predictions])
                cached_per_run.append(sum(cached))
            identical = sum(a == b for a, b in zip(*outputs, strict=True))
            print(f"generation_prefix_cache={str(reads_cache).lower()}: identical {identical}/{len(items)}; "
                  f"cached prompt tokens run1={cached_per_run[0]} run2={cached_per_run[1]}; "
                  f"seconds run1={seconds[0]:.1f} run2={seconds[1]:.1f}")
    finally:
        engine.close()


if __name__ == "__main__":
    main()
