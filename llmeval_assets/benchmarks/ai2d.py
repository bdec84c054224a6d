"""AI2D (Kembhavi et al. 2016): multiple-choice questions about science diagrams; test split 3,088.

Variant "lmms_eval" (lmms-eval `ai2d`, `default` prompt, format mcq): the diagram, then

    {question}
    A. {option 0}
    B. {option 1}
    ...
    Answer with the option's letter from the given choices directly.

greedy, 16 new tokens. Extraction as lmms-eval's filter: a completion starting with "X." gives the letter X,
otherwise the whole completion; it must equal the gold letter ignoring case and punctuation (metric exact_match).
"""

from __future__ import annotations

import re
from typing import Any

from llmeval_assets.benchmarks.base import Item, TaskSpec, register
from llmeval_assets.benchmarks.sources import DatasetFormatError, require, require_str_list
from llmeval_assets.benchmarks.visual_qa import (
    LMMS_EVAL,
    VisualChoiceBenchmark,
    lettered_options,
    strip_punctuation,
)

POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
_LEADING_LETTER = re.compile(r"^\s*([A-Z])\.")


@register
class AI2D(VisualChoiceBenchmark):
    name = "ai2d"
    version = "1"
    max_tokens = 16

    def item_from_row(self, row: dict[str, Any], index: int) -> Item:
        item_id = f"test-{index}"
        question = require(row, "question", str, dataset=self.name, row=item_id)
        options = require_str_list(row, "options", dataset=self.name, row=item_id, min_len=2)
        answer = str(require(row, "answer", (str, int), dataset=self.name, row=item_id))
        if not answer.isdigit() or int(answer) >= len(options):
            raise DatasetFormatError(self.name, item_id, "answer",
                                     f"expected an index of the {len(options)} options, got {answer!r}")
        return Item(item_id=item_id, data={"question": question, "choices": options, "gold": int(answer)})

    def question_text(self, item: Item) -> str:
        return f"{item.data['question']}\n{lettered_options(item.data['choices'])}{POST_PROMPT}"

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        return self.spec(variant, "<image>{question}\\nA. {option}\\n..." + POST_PROMPT,
                         "leading-letter-or-whole/v1", ("exact_match",), f"{LMMS_EVAL} ai2d (default prompt, mcq)")

    def extract_letter(self, text: str) -> str:
        match = _LEADING_LETTER.match(text)
        return match.group(1) if match else strip_punctuation(text).strip().upper()
