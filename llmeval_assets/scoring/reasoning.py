"""Completions of reasoning models (DeepSeek-R1 distills, QwQ, Qwen3 thinking): the answer comes after the
thinking, `<think> ... </think> answer`. Extraction must read only the answer part, and a completion that ran out
of tokens while still thinking has no answer at all: it counts as unanswered (scored 0 and reported separately),
never as a wrong answer extracted from half a thought."""

from __future__ import annotations

from typing import NamedTuple

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class ReasoningSplit(NamedTuple):
    answer_text: str
    cut_off: bool  # the completion ended inside the thinking: no answer was given


def split_reasoning(text: str, reasoning_model: bool = False) -> ReasoningSplit:
    """Drop the thinking from a completion.

    - `... </think> answer` -> the text after the last `</think>` (the opening tag is often part of the prompt:
      several reasoning chat templates end the generation prompt with `<think>\\n`, so it may be missing here);
    - `<think> ...` without `</think>` -> cut off;
    - no tags at all -> the text unchanged, unless `reasoning_model` is set (the registry's `reasoning: true`):
      such a model always thinks first, so a completion without `</think>` stopped inside the thinking.
    """
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        return ReasoningSplit(text[close + len(THINK_CLOSE):].strip(), False)
    if THINK_OPEN in text or reasoning_model:
        return ReasoningSplit("", True)
    return ReasoningSplit(text, False)
