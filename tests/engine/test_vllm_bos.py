"""VLLMEngine on the tiny Llama whose tokenizer adds a BOS and whose chat template writes one (Llama-3, Mistral and
Gemma behave so): every request path sends exactly the ids of engine/tokenization.py's rule (lm-evaluation-harness
0.4.x's), one BOS each, and those ids are what the model computed on (the log-likelihoods and greedy tokens equal a
transformers forward pass on them). Nothing is mocked."""

from __future__ import annotations

import pytest

from llmeval_assets.benchmarks.base import Item, get_benchmark
from llmeval_assets.benchmarks.dispatch import CapturingEngine
from llmeval_assets.engine.requests import ChoiceRequest, GenerateRequest, LoglikelihoodRequest, Sampling
from llmeval_assets.engine.tokenization import RequestTokenizer

pytestmark = pytest.mark.vllm

BOS = 0
QUESTION = ({"role": "user", "content": "What is the capital of France?"},)
GREEDY = Sampling(max_tokens=8)


@pytest.fixture(scope="module")
def hf(tiny_bos_checkpoint):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_bos_checkpoint, dtype=torch.float32).eval()
    return model, RequestTokenizer(AutoTokenizer.from_pretrained(tiny_bos_checkpoint))


def hf_greedy(model, ids: list[int], max_tokens: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_tokens, do_sample=False)
    return out[0, len(ids):].tolist()


def hf_loglikelihood(model, context: list[int], continuation: list[int]) -> float:
    import torch

    whole = context + continuation
    with torch.no_grad():
        logprobs = model(torch.tensor([whole])).logits[0].float().log_softmax(-1)
    return sum(logprobs[p - 1, whole[p]].item() for p in range(len(context), len(whole)))


def test_generation_paths_send_the_rule_ids_with_one_bos(bos_engine, hf):
    model, reference = hf
    requests = [GenerateRequest("plain", GREEDY, prompt="The capital of France is"),
                GenerateRequest("chat", GREEDY, messages=QUESTION),
                GenerateRequest("prefill", GREEDY, messages=QUESTION, assistant_prefix="The best answer is")]
    results = bos_engine.generate(requests)
    for request, result in zip(requests, results, strict=True):
        ids = bos_engine.generation_prompt_ids(request)
        assert ids == reference.generation_ids(request)  # vLLM's tokenizer and the HF one agree on the rule
        assert ids[0] == BOS and ids.count(BOS) == 1, request.request_id
        assert result.tokens_in == len(ids)
        expected = model.generation_config.eos_token_id
        tokens = hf_greedy(model, ids, GREEDY.max_tokens)
        text = reference.tokenizer.decode([t for t in tokens if t != expected], skip_special_tokens=True)
        assert result.completions[0].text == text, request.request_id


def test_loglikelihood_and_choices_on_plain_and_chat_contexts_have_one_bos(bos_engine, hf):
    model, _ = hf
    rendered = bos_engine.apply_chat_template(QUESTION)
    requests = [LoglikelihoodRequest("plain#0", "The capital of France is", " Paris"),
                LoglikelihoodRequest("chat#0", rendered, "Paris")]
    for request, result in zip(requests, bos_engine.loglikelihood(requests), strict=True):
        context, continuation = bos_engine.encode_pair(request.context, request.continuation)
        assert context.count(BOS) == 1 and context[0] == BOS
        assert result.tokens_in == len(context) + len(continuation)
        assert result.logprob == pytest.approx(hf_loglikelihood(model, context, continuation), abs=1e-3)
    prefilled = bos_engine.apply_chat_template([*QUESTION, {"role": "assistant", "content": "The best answer is"}],
                                               add_generation_prompt=False)
    assert prefilled == rendered + "The best answer is"
    (choices,) = bos_engine.choice_logprobs([ChoiceRequest("c", prefilled, (" A", " B"))])
    singles = bos_engine.loglikelihood([LoglikelihoodRequest("c#0", prefilled, " A"),
                                        LoglikelihoodRequest("c#1", prefilled, " B")])
    assert choices.error is None and bos_engine.encode_pair(prefilled, " A")[0].count(BOS) == 1
    assert choices.logprobs == pytest.approx([r.logprob for r in singles], abs=1e-4)


def test_prefilled_chat_variants_send_one_bos(bos_engine):
    """ARC's chat variant prefills "The best answer is": the request carries the prefix, and its ids keep the one
    BOS of the chat template (the old rendering to text, then encoding with special tokens, gave two)."""
    arc = get_benchmark("arc_challenge")
    item = Item("Mercury_1", {"question": "Which gas do plants take in?", "choices": ["Oxygen", "Carbon dioxide"],
                              "gold": 1})
    capture = CapturingEngine(bos_engine)
    (prediction,) = arc.predict(capture, [item], arc.task_spec("chat_0shot"))
    (request,) = capture.requests
    assert isinstance(request, GenerateRequest) and request.assistant_prefix == "The best answer is"
    ids = bos_engine.generation_prompt_ids(request)
    assert ids.count(BOS) == 1 and prediction.tokens_in == len(ids)


def test_a_log_likelihood_variant_runs_through_the_chat_template_with_one_bos(bos_engine):
    """--chat-template on ARC's log-likelihood variant: each context is the rendered conversation, encoded with the
    template's one BOS; continuations lose their leading space (lm-eval's --apply_chat_template)."""
    from llmeval_assets.benchmarks.base import SpecOverrides
    from llmeval_assets.benchmarks.dispatch import spec_engine

    arc = get_benchmark("arc_challenge")
    spec = arc.configure("0shot", SpecOverrides(chat_template=True))
    item = Item("Mercury_1", {"question": "Which gas do plants take in?", "choices": ["Oxygen", "Carbon dioxide"],
                              "gold": 1})
    capture = CapturingEngine(bos_engine)
    (prediction,) = arc.predict(spec_engine(capture, spec), [item], spec)
    assert len(prediction.logprobs) == 2 and prediction.error is None
    for request in capture.requests:
        assert request.context.startswith("<|endoftext|><|im_start|>") and request.context.endswith("assistant\n")
        context_ids, _ = bos_engine.encode_pair(request.context, request.continuation)
        assert context_ids.count(BOS) == 1
    assert [r.continuation for r in capture.requests] == ["Oxygen", "Carbon dioxide"]
