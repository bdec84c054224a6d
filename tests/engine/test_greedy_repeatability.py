"""Greedy generation is repeatable run to run (issue 10.10): the same GSM8K 8-shot generations, sent twice through
the benchmark and the real vLLM engine, come back identical, and no generation read the prefix cache (a prompt
computed partly from cached blocks takes other kernels, and whether a block is cached depends on what ran before:
the second run would read every exemplar block the first one wrote). The engine's RequestOutputs are observed by
wrapping its batch runner (a spy on vLLM's real outputs, nothing replaced)."""

from __future__ import annotations

import pytest

from llmeval_assets.benchmarks.base import SpecOverrides, get_benchmark
from llmeval_assets.benchmarks.dispatch import spec_engine
from tests.benchmarks.data import load_test_items

pytestmark = pytest.mark.vllm

ITEMS = 6


def test_the_same_greedy_generations_twice_are_identical_and_skip_the_prefix_cache(bos_engine, monkeypatch):
    gsm8k = get_benchmark("gsm8k")
    spec = gsm8k.configure("cot_8shot", SpecOverrides(sampling=(("max_tokens", 24),)))
    items = [item for item in load_test_items("gsm8k") if item.split == "test"][:ITEMS]
    cached_tokens: list[int] = []
    run = bos_engine._run

    def observed(batch):
        outputs = run(batch)
        cached_tokens.extend(output.num_cached_tokens or 0 for output, _ in outputs)
        return outputs

    monkeypatch.setattr(bos_engine, "_run", observed)
    first = gsm8k.predict(spec_engine(bos_engine, spec), items, spec)
    second = gsm8k.predict(spec_engine(bos_engine, spec), items, spec)
    assert [p.outputs for p in first] == [p.outputs for p in second]
    assert all(p.outputs and p.outputs[0] for p in first)
    assert len(cached_tokens) == 2 * ITEMS and set(cached_tokens) == {0}
    assert bos_engine.provenance.engine_args["enable_prefix_caching"]  # the cache is on, generations skip it
