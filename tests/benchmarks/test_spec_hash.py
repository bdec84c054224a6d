"""TaskSpec.spec_hash: every knob that can change a score changes the hash; category settings apply."""

from dataclasses import replace

import pytest

from llmeval_assets.benchmarks import get_benchmark
from llmeval_assets.engine.requests import Sampling
from llmeval_assets.registry.schema import GenerationSettings

BASE = get_benchmark("mmlu").task_spec("chat_5shot")

CHANGES = {
    "prompt template": lambda s: replace(s, prompt_template=s.prompt_template + " "),
    "few-shot ids": lambda s: replace(s, fewshot_ids=s.fewshot_ids[::-1]),
    "number of shots": lambda s: replace(s, num_fewshot=3),
    "chat template use": lambda s: replace(s, use_chat_template=False),
    "stop sequences": lambda s: replace(s, sampling=replace(s.sampling, stop=("\n\n",))),
    "max tokens": lambda s: replace(s, sampling=replace(s.sampling, max_tokens=11)),
    "temperature": lambda s: replace(s, sampling=replace(s.sampling, temperature=0.7)),
    "extraction": lambda s: replace(s, extraction="first-standalone-letter/v2"),
    "metric / code version": lambda s: replace(s, benchmark_version="2"),
    "metrics": lambda s: replace(s, metrics=("acc", "acc_norm")),
    "benchmark-specific knob": lambda s: replace(s, extra=(("judge_prompt", "single-v1"),)),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_each_knob_changes_the_spec_hash(change):
    assert CHANGES[change](BASE).spec_hash != BASE.spec_hash


def test_spec_hash_is_stable_and_variants_differ():
    mmlu = get_benchmark("mmlu")
    assert mmlu.task_spec("chat_5shot").spec_hash == BASE.spec_hash
    hashes = {mmlu.task_spec(v).spec_hash for v in mmlu.variants()}
    assert len(hashes) == len(mmlu.variants())


def test_category_settings_apply_to_generative_specs_only():
    settings = GenerationSettings(max_tokens=2048, temperature=0.6, stop=("</answer>",), timeout_s=30)
    chat = BASE.with_category_settings(settings)
    assert chat.sampling == Sampling(max_tokens=2048, temperature=0.6, stop=("</answer>",), seed=BASE.sampling.seed)
    assert chat.timeout_s == 30
    assert chat.spec_hash != BASE.spec_hash
    loglikelihood = get_benchmark("mmlu").task_spec("5shot")
    assert loglikelihood.with_category_settings(settings) == loglikelihood
