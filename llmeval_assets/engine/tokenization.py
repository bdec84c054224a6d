"""How a request becomes token ids: lm-evaluation-harness 0.4.x's rule, in one place for every in-process engine.

The rule (lm-eval's `tok_encode` in models/huggingface.py and models/vllm_causallms.py, `_encode_pair` in
api/model.py, `apply_chat_template` of both backends; docs/tokenization.md says it for users):

- Any text, plain prompt or rendered chat template alike, is encoded with the tokenizer's own defaults (a Llama-3,
  Mistral or Gemma tokenizer adds its BOS), unless the text already starts with the prefix token's text (BOS, or
  EOS where the tokenizer has no BOS): then without special tokens. A chat template that writes the BOS itself
  therefore yields exactly one.
- A chat conversation is rendered with the model's template and the generation prompt; a reply prefilled with an
  assistant prefix is the conversation plus an assistant turn holding the prefix, rendered with
  `add_generation_prompt=False, continue_final_message=True` (the prefix is the start of the reply, not a turn).
  A template that rejects a system turn renders the conversation without it (with a warning), as lm-eval does.
- Log-likelihood: trailing whitespace of the context moves to the continuation; context + continuation are encoded
  whole and cut at the context's own token count (a token spanning the boundary belongs to the continuation). An
  empty context becomes the prefix token (unless the continuation itself starts with it) and the continuation is
  encoded without special tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from llmeval_assets.engine.requests import GenerateRequest, Message

logger = logging.getLogger(__name__)


class NoChatTemplateError(ValueError):
    """The tokenizer has no chat template, so a conversation cannot be rendered."""


def prefill_turn(prefix: str) -> Message:
    """The assistant turn that carries a prefilled reply (sent to servers too, with continue_final_message)."""
    return {"role": "assistant", "content": prefix}


class RequestTokenizer:
    """The rule above over a Hugging Face tokenizer (the one vLLM loads, or `AutoTokenizer`)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.prefix_token_id: int | None = prefix
        self._prefix_text = tokenizer.decode([prefix]) if prefix is not None else None

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        if self._prefix_text and text.startswith(self._prefix_text):
            return list(self.tokenizer.encode(text, add_special_tokens=False))
        return list(self.tokenizer.encode(text))

    def render_chat(self, messages: Sequence[Message], assistant_prefix: str | None = None) -> str:
        """The conversation through the model's chat template, ending where the reply starts (after the
        generation prompt, or after `assistant_prefix` inside the assistant turn)."""
        import jinja2

        if not getattr(self.tokenizer, "chat_template", None):
            raise NoChatTemplateError("the model has no chat template; send plain prompts (prompt=...) instead")
        conversation = [*messages, prefill_turn(assistant_prefix)] if assistant_prefix else list(messages)
        try:
            return self._render(conversation, prefilled=bool(assistant_prefix))
        except jinja2.exceptions.TemplateError:
            if not any(message["role"] == "system" for message in conversation):
                raise
            # lm-eval's fallback for templates that reject a system turn (Gemma's): render without it
            logger.warning("the chat template rejects a system turn; rendering the conversation without it")
            return self._render([m for m in conversation if m["role"] != "system"], prefilled=bool(assistant_prefix))

    def _render(self, conversation: list[Message], prefilled: bool) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=not prefilled,
                                                  continue_final_message=prefilled)

    def generation_ids(self, request: GenerateRequest) -> list[int]:
        if request.messages is not None:
            return self.encode(self.render_chat(request.messages, request.assistant_prefix))
        assert request.prompt is not None
        return self.encode(request.prompt)

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """(context ids, continuation ids) of a log-likelihood request (the split described above)."""
        stripped = context.rstrip()
        continuation = context[len(stripped):] + continuation
        if not stripped:
            continuation_ids = list(self.tokenizer.encode(continuation, add_special_tokens=False))
            if self.prefix_token_id is None or (continuation_ids and continuation_ids[0] == self.prefix_token_id):
                return continuation_ids[:1], continuation_ids[1:]
            return [self.prefix_token_id], continuation_ids
        whole = self.encode(stripped + continuation)
        context_length = len(self.encode(stripped))
        return whole[:context_length], whole[context_length:]
