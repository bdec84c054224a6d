"""A variant's declared spec: every knob that can change a score changes its declaration hash (the spec hash a result
carries also covers the rendered requests and the tokenizer: tests/pipeline/test_identity.py); category settings
never override what a variant fixes; overrides are explicit."""

from dataclasses import replace

import pytest

from llmeval_assets.benchmarks import get_benchmark
from llmeval_assets.benchmarks.base import SpecError, SpecOverrides
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
    "primary metric": lambda s: replace(s, primary_metric="acc"),
    "system instruction": lambda s: replace(s, system_instruction="Be brief."),
    "forced sampling": lambda s: replace(s, forced_sampling=(("seed", 1),)),
    "few-shot source": lambda s: replace(s, fewshot_source="file:abc"),
    "benchmark-specific knob": lambda s: replace(s, extra=(("judge_prompt", "single-v1"),)),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_each_knob_changes_the_declaration_hash(change):
    assert CHANGES[change](BASE).declaration_hash != BASE.declaration_hash


def test_the_hash_is_stable_and_variants_differ():
    mmlu = get_benchmark("mmlu")
    assert mmlu.task_spec("chat_5shot").declaration_hash == BASE.declaration_hash
    hashes = {mmlu.task_spec(v).declaration_hash for v in mmlu.variants()}
    assert len(hashes) == len(mmlu.variants())


def test_category_settings_never_override_what_a_variant_fixes():
    settings = GenerationSettings(max_tokens=2048, temperature=0.6, stop=("</answer>",), timeout_s=30)
    spec, conflicts = BASE.with_category_settings(settings, "general_purpose")
    assert spec.sampling == BASE.sampling and spec.timeout_s == 30
    assert [c.split(", but")[0] for c in conflicts] == ["category general_purpose sets max_tokens=2048",
                                                        "category general_purpose sets temperature=0.6",
                                                        "category general_purpose sets stop=('</answer>',)"]
    assert "mmlu chat_5shot fixes max_tokens=10 (Llama 3.1 model card (lm-eval mmlu_llama))" in conflicts[0]


def test_a_sampled_pass_at_k_variant_keeps_its_sampling_under_a_greedy_category():
    sampled = get_benchmark("humaneval").task_spec("sampled_n64")
    spec, conflicts = sampled.with_category_settings(GenerationSettings(temperature=0.0, top_p=1.0), "coding")
    assert (spec.sampling.temperature, spec.sampling.top_p, spec.sampling.n) == (0.2, 0.95, 64)
    assert len(conflicts) == 2 and spec.metrics == ("pass@1", "pass@10")


def test_a_knob_a_variant_leaves_open_takes_the_category_value():
    tunable = replace(BASE, category_tunable=("max_tokens",))
    spec, conflicts = tunable.with_category_settings(GenerationSettings(max_tokens=64), "c")
    assert spec.sampling.max_tokens == 64 and conflicts == ()


def test_equal_category_values_are_no_conflict_and_log_likelihood_specs_ignore_sampling():
    assert BASE.with_category_settings(GenerationSettings(max_tokens=10, temperature=0.0))[1] == ()
    loglikelihood = get_benchmark("mmlu").task_spec("5shot")
    assert loglikelihood.with_category_settings(GenerationSettings(max_tokens=5)) == (loglikelihood, ())


def test_overrides_are_applied_and_checked():
    humaneval = get_benchmark("humaneval")
    spec = humaneval.configure("sampled_n64", SpecOverrides(sampling=(("n", 5),)))
    assert spec.sampling.n == 5 and spec.metrics == ("pass@1",) and spec.forced_sampling == (("n", 5),)
    with pytest.raises(SpecError, match="humaneval variant 'greedy' has 0 few-shot exemplar"):
        humaneval.configure("greedy", SpecOverrides(num_fewshot=2))


def test_request_digests_and_prompt_hashes_cover_the_prefilled_reply():
    from llmeval_assets.benchmarks.dispatch import request_digests
    from llmeval_assets.engine.requests import GenerateRequest, Sampling

    turn = ({"role": "user", "content": "Which is it?"},)
    plain, prefilled, other = (GenerateRequest("q", Sampling(), messages=turn, assistant_prefix=prefix)
                               for prefix in (None, "The best answer is", "The answer is"))
    assert len({request_digests([r])["q"] for r in (plain, prefilled, other)}) == 3
    assert len({r.prompt_hash() for r in (plain, prefilled, other)}) == 3
