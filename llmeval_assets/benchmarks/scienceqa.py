"""ScienceQA-IMG (Lu et al. 2022): the science questions of ScienceQA's test split that come with an image,
2,017 of 4,241.

Variant "lmms_eval" (lmms-eval `scienceqa_img`, `default` format): the image, then

    Context: {hint}          (only when the row has a hint)
    {question}
    A. {choice 0}
    B. {choice 1}
    ...
    Answer with the option's letter from the given choices directly.

greedy, 16 new tokens. Extraction as lmms-eval's (after LLaVA's): the stripped completion equal to the gold
letter (ignoring case), or a completion starting with an upper-case letter and a period gives that letter
(metric exact_match). Items are grouped by subject.
"""

from __future__ import annotations

from typing import Any

from llmeval_assets.benchmarks.base import Item, TaskSpec, register
from llmeval_assets.benchmarks.sources import DatasetFormatError, require, require_str_list
from llmeval_assets.benchmarks.visual_qa import LMMS_EVAL, VisualChoiceBenchmark, lettered_options

POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."


@register
class ScienceQA(VisualChoiceBenchmark):
    name = "scienceqa"
    version = "1"
    max_tokens = 16

    def item_from_row(self, row: dict[str, Any], index: int) -> Item:
        item_id = f"test-{index}"
        question = require(row, "question", str, dataset=self.name, row=item_id)
        choices = require_str_list(row, "choices", dataset=self.name, row=item_id, min_len=2)
        answer = require(row, "answer", int, dataset=self.name, row=item_id)
        if not 0 <= answer < len(choices):
            raise DatasetFormatError(self.name, item_id, "answer",
                                     f"expected an index of the {len(choices)} choices, got {answer!r}")
        hint = row.get("hint") or ""
        return Item(item_id=item_id, data={"question": question, "choices": choices, "gold": answer, "hint": hint},
                    group=row.get("subject") or None)

    def question_text(self, item: Item) -> str:
        context = f"Context: {item.data['hint']}\n" if item.data["hint"] else ""
        return f"{context}{item.data['question']}\n{lettered_options(item.data['choices'])}{POST_PROMPT}"

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        return self.spec(variant, "<image>[Context: {hint}\\n]{question}\\nA. {choice}\\n..." + POST_PROMPT,
                         "letter-or-leading-letter/v1", ("exact_match",),
                         f"{LMMS_EVAL} scienceqa_img (default format)")

    def extract_letter(self, text: str) -> str:
        stripped = text.strip()
        if len(stripped) == 1:
            return stripped.upper()
        if len(stripped) >= 2 and stripped[0].isupper() and stripped[1] == ".":
            return stripped[0]
        return stripped
