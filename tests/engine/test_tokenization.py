"""The one tokenization rule (engine/tokenization.py, lm-evaluation-harness 0.4.x's) on the tiny Llama whose
tokenizer adds a BOS (id 0) and whose chat template writes one: the exact token ids of every request path, from
the real tokenizer files. No vLLM here; tests/engine/test_vllm_engine.py checks the engine sends these ids."""

from __future__ import annotations

import pytest

from llmeval_assets.engine.requests import GenerateRequest, Sampling
from llmeval_assets.engine.tokenization import NoChatTemplateError, RequestTokenizer

BOS = 0  # "<|endoftext|>"
IM_START, IM_END = 1, 2
QUESTION = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def tokenizer(tiny_bos_checkpoint):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bos_checkpoint)


@pytest.fixture(scope="module")
def encoder(tokenizer) -> RequestTokenizer:
    return RequestTokenizer(tokenizer)


def text_ids(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def chat(messages, prefix=None) -> GenerateRequest:
    return GenerateRequest("q", Sampling(), messages=tuple(messages), assistant_prefix=prefix)


def test_the_fixture_tokenizer_adds_a_bos_and_its_template_writes_one(tokenizer):
    assert tokenizer.encode("Hello world") == [BOS, 19556, 905]
    assert tokenizer.apply_chat_template(QUESTION, tokenize=False).startswith("<|endoftext|><|im_start|>")


def test_a_plain_prompt_gets_the_tokenizers_bos(encoder):
    assert encoder.generation_ids(GenerateRequest("q", Sampling(), prompt="Hello world")) == [BOS, 19556, 905]


def test_a_chat_request_has_exactly_the_bos_its_template_writes(encoder, tokenizer):
    ids = encoder.generation_ids(chat(QUESTION))
    rendered = tokenizer.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    assert ids == [BOS, *text_ids(tokenizer, rendered.removeprefix("<|endoftext|>"))]
    assert ids[:2] == [BOS, IM_START] and ids.count(BOS) == 1
    assert ids[-4:] == [IM_START, *text_ids(tokenizer, "assistant\n")]  # ends with the generation prompt


def test_a_prefilled_reply_continues_the_assistant_turn_with_one_bos(encoder, tokenizer):
    ids = encoder.generation_ids(chat(QUESTION, "The best answer is"))
    plain_chat = encoder.generation_ids(chat(QUESTION))
    assert ids == plain_chat + text_ids(tokenizer, "The best answer is")  # no end-of-turn, no second header
    assert ids.count(BOS) == 1 and IM_END not in ids[len(plain_chat):]


def test_loglikelihood_split_has_one_bos_for_plain_and_rendered_contexts(encoder, tokenizer):
    context, continuation = encoder.encode_pair("Question: Hi\nAnswer: ", "Paris")
    assert context == [BOS, *text_ids(tokenizer, "Question: Hi\nAnswer:")]
    assert continuation == text_ids(tokenizer, " Paris")  # the trailing space moved to the continuation
    rendered = encoder.render_chat(QUESTION)
    context, continuation = encoder.encode_pair(rendered, "Paris")
    assert context[:2] == [BOS, IM_START] and context.count(BOS) == 1
    assert context + continuation == [BOS, *text_ids(tokenizer, rendered.removeprefix("<|endoftext|>") + "Paris")]


def test_an_empty_context_is_the_bos_alone(encoder, tokenizer):
    assert encoder.encode_pair("", " Paris") == ([BOS], text_ids(tokenizer, " Paris"))


def test_a_tokenizer_without_a_bos_of_its_own_keeps_its_ids(smollm2_checkpoint):
    from transformers import AutoTokenizer

    smollm2 = RequestTokenizer(AutoTokenizer.from_pretrained(smollm2_checkpoint.path))
    assert smollm2.encode("Hello world") == [19556, 905]
    assert smollm2.generation_ids(chat(QUESTION))[0] == IM_START  # SmolLM2's template starts with <|im_start|>


def test_rendering_without_a_chat_template_is_a_clear_error(encoder, tokenizer, monkeypatch):
    monkeypatch.setattr(tokenizer, "chat_template", None)
    with pytest.raises(NoChatTemplateError, match="no chat template"):
        encoder.render_chat(QUESTION)


def test_a_prefix_needs_a_conversation():
    with pytest.raises(ValueError, match="assistant_prefix prefills a chat reply; it needs messages"):
        GenerateRequest("q", Sampling(), prompt="x", assistant_prefix="The answer is")


def test_a_template_that_rejects_a_system_turn_renders_without_it(encoder, tokenizer, monkeypatch):
    """lm-eval's fallback (Gemma's template raises on a system turn): the conversation is rendered without it."""
    strict = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}"
              "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
              "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    monkeypatch.setattr(tokenizer, "chat_template", strict)
    with_system = encoder.render_chat([{"role": "system", "content": "Be brief."}, *QUESTION])
    assert with_system == encoder.render_chat(QUESTION) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
