"""HH-RLHF preference pairs (Bai et al. 2022, Anthropic/hh-rlhf): dialogues between a human and an assistant,
each as a `chosen` and a `rejected` transcript that differ in the assistant's last reply, the one annotators
preferred (more helpful, or less harmful); test split 8,552 pairs.

There is NO reference implementation of this as a language-model benchmark (the data trains and tests reward
models), and no reward model is used here. What is measured, stated plainly: how often the evaluated model itself
finds the preferred reply more likely than the rejected one after the same dialogue. Variant "0shot" (llmeval's own
protocol): the dialogue up to and including the last "\\n\\nAssistant:" is the context; each final reply is scored as
its continuation (the reply text after "Assistant:", its leading space kept); metrics
- acc: the chosen reply has the higher total log-likelihood (favours the shorter reply);
- acc_norm: the same after dividing by each reply's character length (the primary metric, as it is less biased by
  length). 0.5 is chance. It says whether the model's likelihoods agree with human preference, not how good the
  model's own replies are.
A pair whose two transcripts differ before the last assistant turn has no common context, and one whose replies
are equal has nothing to prefer: such rows are left out (the registry's n_items is the split's row count). The
chosen reply is the first choice of even rows and the second of odd ones, so a tie (argmax takes the first) favours
neither side.

Sources: hub `Anthropic/hh-rlhf` test split. No PyPI wheel ships HH-RLHF: offline runs use a 3-item hand-built
FIXTURE in the hub format (data/hh_rlhf_fixture.jsonl, rows marked `fixture_note`), which only exercises the code.
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

FIXTURE = Path(__file__).parent / "data" / "hh_rlhf_fixture.jsonl"
ASSISTANT_TURN = "\n\nAssistant:"


def split_last_reply(transcript: str) -> tuple[str, str] | None:
    """(dialogue up to and including the last assistant marker, the reply after it), or None without one."""
    at = transcript.rfind(ASSISTANT_TURN)
    if at < 0:
        return None
    cut = at + len(ASSISTANT_TURN)
    return transcript[:cut], transcript[cut:]


@register
class HHRLHF(HarnessChoiceBenchmark):
    name = "hh_rlhf"
    PROMPT_TEMPLATE = "<dialogue up to the last '\\n\\nAssistant:'>"
    REFERENCE = ("none: llmeval's own protocol (the model's log-likelihood of the chosen vs the rejected reply; "
                 "no reward model)")
    PRIMARY_METRIC = "acc_norm"

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        """source="offline": the hand-built fixture (not HH-RLHF data, so it needs no source arguments);
        source="hf": the registry's hub split. Pairs without a common dialogue before the last reply are left out."""
        rows = fixture_or_hub_rows(self.name, FIXTURE, source, source_args)
        items = []
        for index, row in enumerate(rows):
            item_id = f"test-{index}"
            chosen, rejected = (split_last_reply(require(row, name, str, dataset=self.name, row=item_id))
                                for name in ("chosen", "rejected"))
            if chosen is None or rejected is None:
                raise DatasetFormatError(self.name, item_id, "chosen" if chosen is None else "rejected",
                                         f"no {ASSISTANT_TURN!r} turn")
            if chosen[0] != rejected[0] or chosen[1] == rejected[1]:
                continue  # no common dialogue, or nothing to prefer
            # choices are the replies without the space that follows "Assistant:", which the continuation restores
            replies = [chosen[1].removeprefix(" "), rejected[1].removeprefix(" ")]
            gold = index % 2
            items.append(Item(item_id=item_id, data={
                "dialogue": chosen[0], "choices": replies if gold == 0 else replies[::-1], "gold": gold,
                "fixture": "fixture_note" in row}))
        return items

    def prompt(self, item: Item) -> str:
        return item.data["dialogue"]
