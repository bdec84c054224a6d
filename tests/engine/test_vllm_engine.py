"""VLLMEngine against real vLLM on CPU: log-likelihood parity with a transformers forward pass, single-pass choice
scoring, generation features, and per-request errors. Nothing is mocked."""

from __future__ import annotations

import math

import pytest

from llmeval_assets.engine.requests import (
    ChoiceRequest,
    GenerateRequest,
    LoglikelihoodRequest,
    Sampling,
    stable_hash,
)

from .conftest import TINY_MAX_MODEL_LEN

pytestmark = pytest.mark.vllm

PARITY_TOLERANCE_PER_TOKEN = 1e-3  # nats

LOGLIKELIHOOD_CASES = [
    ("The capital of France is", " Paris"),
    ("The capital of France is ", "Paris"),  # trailing space moves into the continuation
    ("Question: 2 + 2 = ?\nAnswer:", " 4, because two and two make four."),
    ("", "Once upon a time"),  # empty context: BOS predicts the continuation
    ("def add(a, b):\n    return", " a + b\n"),
]


def transformers_loglikelihood(model, whole: list[int], context_len: int) -> tuple[float, bool]:
    import torch

    with torch.no_grad():
        logprobs = model(torch.tensor([whole])).logits[0].float().log_softmax(-1)
    positions = range(context_len, len(whole))
    total = sum(logprobs[p - 1, whole[p]].item() for p in positions)
    greedy = all(int(logprobs[p - 1].argmax()) == whole[p] for p in positions)
    return total, greedy


def assert_parity(engine, checkpoint_path) -> float:
    """Engine log-likelihoods equal a float32 transformers forward pass on the same token ids; returns the max
    per-token difference."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(checkpoint_path, dtype=torch.float32).eval()
    requests = [LoglikelihoodRequest(f"r{i}", ctx, cont) for i, (ctx, cont) in enumerate(LOGLIKELIHOOD_CASES)]
    results = engine.loglikelihood(requests)
    worst = 0.0
    for request, result in zip(requests, results, strict=True):
        assert result.error is None and result.request_id == request.request_id
        context_ids, continuation_ids = engine.encode_pair(request.context, request.continuation)
        expected, expected_greedy = transformers_loglikelihood(model, context_ids + continuation_ids, len(context_ids))
        per_token = abs(result.logprob - expected) / len(continuation_ids)
        worst = max(worst, per_token)
        assert per_token < PARITY_TOLERANCE_PER_TOKEN, (request, result.logprob, expected)
        assert result.is_greedy == expected_greedy
        assert result.continuation_tokens == len(continuation_ids)
        assert result.tokens_in == len(context_ids) + len(continuation_ids)
        assert result.prompt_hash == request.prompt_hash()
    print(f"parity max |diff| per token: {worst:.2e} nats")
    return worst


def test_loglikelihood_matches_transformers_tiny(tiny_engine, tiny_checkpoint):
    assert_parity(tiny_engine, tiny_checkpoint.path)


def test_loglikelihood_matches_transformers_smollm2(smollm2_engine, smollm2_checkpoint):
    assert_parity(smollm2_engine, smollm2_checkpoint.path)


def test_encode_pair_moves_trailing_space_into_continuation(tiny_engine):
    with_space = tiny_engine.encode_pair("Answer: ", "Paris")
    without = tiny_engine.encode_pair("Answer:", " Paris")
    assert with_space == without


def test_greedy_continuation_is_flagged(smollm2_engine):
    """The greedily generated next token scores is_greedy (one token: re-tokenizing longer generated text
    may split it differently); a different continuation does not."""
    context = "The capital of France is"
    generated = smollm2_engine.generate(
        [GenerateRequest("g", Sampling(max_tokens=1), prompt=context)]
    )[0]
    greedy_text = generated.completions[0].text
    greedy, other = smollm2_engine.loglikelihood(
        [LoglikelihoodRequest("a", context, greedy_text), LoglikelihoodRequest("b", context, " bananas and")]
    )
    assert greedy.is_greedy and not other.is_greedy
    assert greedy.logprob > other.logprob


def test_choice_logprobs_equal_single_token_loglikelihoods(tiny_engine, smollm2_engine):
    """One forward pass per question gives each choice's log-prob under the full-vocabulary distribution: it
    equals the log-likelihood of that single-token continuation."""
    context = "Question: Which planet is known as the red planet?\nA. Venus\nB. Mars\nC. Jupiter\nD. Saturn\nAnswer:"
    requests = [
        ChoiceRequest("q1", context, (" A", " B", " C", " D")),
        ChoiceRequest("q2", "Is the sky blue? Answer: ", ("yes", "no")),  # trailing space joins the choices
    ]
    for engine in (tiny_engine, smollm2_engine):
        results = engine.choice_logprobs(requests)
        for request, result in zip(requests, results, strict=True):
            assert result.error is None and result.request_id == request.request_id
            singles = engine.loglikelihood(
                [LoglikelihoodRequest(f"{request.request_id}-{c}", request.context, c) for c in request.choices]
            )
            assert [s.continuation_tokens for s in singles] == [1] * len(request.choices)
            assert result.logprobs == pytest.approx([s.logprob for s in singles], abs=1e-4)
            # Not renormalized over the choices: their probabilities sum to less than 1.
            assert sum(math.exp(lp) for lp in result.logprobs) < 1.0


def test_multi_token_choices_are_refused(tiny_engine):
    """SmolLM2 splits " 4" into " " + "4": the request is refused so the caller asks for log-likelihoods."""
    refused, fine = tiny_engine.choice_logprobs(
        [ChoiceRequest("q", "2 + 2 =", (" 4", " 5")), ChoiceRequest("r", "2 + 2 =", ("4", "5"))]
    )
    assert refused.logprobs == () and "choice ' 4' is 2 tokens" in refused.error
    assert fine.error is None and len(fine.logprobs) == 2


# --------------------------------------------------------------------------------------------------- generation


def test_greedy_generation_is_deterministic_and_ordered(tiny_engine):
    prompts = [f"Item {i}: the quick brown fox" for i in range(12)]
    requests = [GenerateRequest(f"g{i}", Sampling(max_tokens=8), prompt=p) for i, p in enumerate(prompts)]
    first = tiny_engine.generate(requests)
    again = tiny_engine.generate(list(reversed(requests)))[::-1]
    assert [r.request_id for r in first] == [r.request_id for r in requests]
    assert [r.completions[0].text for r in first] == [r.completions[0].text for r in again]
    for result in first:
        assert result.error is None and result.completions[0].tokens_out == 8
        assert result.completions[0].finish_reason == "length"
        assert result.tokens_in > 0 and result.latency_s > 0
        assert result.sampling == Sampling(max_tokens=8).as_dict()


def test_stop_sequences_cut_the_output(smollm2_engine):
    prompt = "Count from one to ten: one, two, three,"
    (free,) = smollm2_engine.generate([GenerateRequest("a", Sampling(max_tokens=16), prompt=prompt)])
    text = free.completions[0].text
    assert "," in text
    (stopped,) = smollm2_engine.generate([GenerateRequest("b", Sampling(max_tokens=16, stop=(",",)), prompt=prompt)])
    assert stopped.completions[0].text == text[: text.index(",")]
    assert stopped.completions[0].finish_reason == "stop"


def test_n_samples(tiny_engine):
    sampled = Sampling(max_tokens=12, temperature=1.0, n=5, seed=7)
    (result,) = tiny_engine.generate([GenerateRequest("s", sampled, prompt="Once upon a time")])
    texts = [c.text for c in result.completions]
    assert len(texts) == 5 and len(set(texts)) > 1  # distinct samples
    (repeat,) = tiny_engine.generate([GenerateRequest("s", sampled, prompt="Once upon a time")])
    assert [c.text for c in repeat.completions] == texts  # seeded
    (greedy,) = tiny_engine.generate([GenerateRequest("g", Sampling(max_tokens=6, n=3), prompt="Once upon")])
    assert len(greedy.completions) == 3 and len({c.text for c in greedy.completions}) == 1


def test_chat_template_and_multi_turn(smollm2_engine):
    messages = ({"role": "user", "content": "What is the capital of France?"},)
    rendered = smollm2_engine.apply_chat_template(messages)
    assert rendered.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in rendered
    chat = GenerateRequest("c1", Sampling(max_tokens=12), messages=messages)
    same_as_prompt = GenerateRequest("c2", Sampling(max_tokens=12), prompt=rendered)
    first, second = smollm2_engine.generate([chat, same_as_prompt])
    assert first.completions[0].text == second.completions[0].text
    assert "Paris" in first.completions[0].text

    turns = (
        *messages,
        {"role": "assistant", "content": first.completions[0].text},
        {"role": "user", "content": "And of Italy?"},
    )
    (second_turn,) = smollm2_engine.generate([GenerateRequest("c3", Sampling(max_tokens=12), messages=turns)])
    assert second_turn.tokens_in > first.tokens_in
    assert "Rome" in second_turn.completions[0].text


# --------------------------------------------------------------------------------------------------- errors


def test_prompt_longer_than_max_model_len_errors_alone(tiny_engine):
    long_prompt = "word " * (TINY_MAX_MODEL_LEN + 10) + "end"
    requests = [
        GenerateRequest("ok1", Sampling(max_tokens=4), prompt="Hello"),
        GenerateRequest("long", Sampling(max_tokens=4), prompt=long_prompt),
        GenerateRequest("ok2", Sampling(max_tokens=4), prompt="World"),
    ]
    ok1, long, ok2 = tiny_engine.generate(requests)
    assert ok1.error is None and ok2.error is None and ok1.completions and ok2.completions
    assert long.completions == () and "max_model_len is 256" in long.error

    ll_ok, ll_long = tiny_engine.loglikelihood(
        [LoglikelihoodRequest("a", "Hello", " world"), LoglikelihoodRequest("b", long_prompt, " end")]
    )
    assert ll_ok.error is None and math.isfinite(ll_ok.logprob)
    assert "max_model_len" in ll_long.error and math.isnan(ll_long.logprob)

    choice_ok, choice_long = tiny_engine.choice_logprobs(
        [ChoiceRequest("a", "Answer:", (" A", " B")), ChoiceRequest("b", long_prompt, (" A", " B"))]
    )
    assert choice_ok.error is None and "max_model_len" in choice_long.error


def test_generation_that_outgrows_max_model_len_stops_at_length(tiny_engine):
    prompt = "word " * (TINY_MAX_MODEL_LEN - 10)
    (result,) = tiny_engine.generate([GenerateRequest("g", Sampling(max_tokens=50), prompt=prompt)])
    assert result.error is None
    assert result.completions[0].finish_reason == "length"
    assert result.tokens_in + result.completions[0].tokens_out == TINY_MAX_MODEL_LEN


def test_provenance(tiny_engine, tiny_checkpoint):
    import vllm

    provenance = tiny_engine.provenance
    assert provenance.model_key == "tiny_llama" and provenance.backend == "vllm"
    assert provenance.backend_version == vllm.__version__
    assert provenance.weights_revision == tiny_checkpoint.revision and provenance.weights_revision.startswith("sha256:")
    assert provenance.engine_args["max_model_len"] == TINY_MAX_MODEL_LEN
    assert provenance.engine_args["generation_config"] == "vllm"
    assert stable_hash(provenance.engine_args)  # JSON-serializable
