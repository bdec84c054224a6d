"""HellaSwag (Zellers et al. 2019): pick the most plausible continuation of an ActivityNet or WikiHow context
among four; validation split 10,042 (the test split has no public labels).

Variant "0shot" (default; lm-evaluation-harness `hellaswag`): lm-eval's preprocessing (`preprocess` below) of
the context  activity_label + ": " + ctx_a + " " + ctx_b.capitalize()  and of each ending; each ending is scored
as the continuation " " + ending; metrics acc and acc_norm (log-likelihood divided by the ending's character
length; acc_norm is the number usually reported). Prompt (no question text, the context itself):

    Roof shingle removal: A man is sitting on a roof. He

continuations: " is using wrap to wrap a pair of skis.", " is ripping level tiles off.", ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from llmeval_assets.benchmarks.base import Item, TaskSpec, register
from llmeval_assets.benchmarks.multiple_choice import MultipleChoiceBenchmark
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    read_arrow_dir,
    require,
    require_str_list,
    source_rows,
)
from llmeval_assets.engine.requests import Sampling


def preprocess(text: str) -> str:
    """lm-eval's hellaswag `preprocess`: WikiHow rows carry markup such as "[header]", "[title]", "[step]"."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


@register
class HellaSwag(MultipleChoiceBenchmark):
    name = "hellaswag"
    version = "1"
    default_variant = "0shot"

    def variants(self) -> tuple[str, ...]:
        return ("0shot",)

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        rows = source_rows(self.name, source, source_args, read_arrow_dir)
        return [self._item(row, index) for index, row in enumerate(rows)]

    def _item(self, row: dict[str, Any], index: int) -> Item:
        # `ind` repeats within the split (9,609 distinct values for 10,042 rows): the row position is the id
        item_id = f"val-{index}"
        fields = {name: require(row, name, str, dataset=self.name, row=item_id)
                  for name in ("activity_label", "ctx_a", "ctx_b", "label")}
        endings = require_str_list(row, "endings", dataset=self.name, row=item_id, min_len=2)
        if not fields["label"].isdigit() or int(fields["label"]) >= len(endings):
            raise DatasetFormatError(self.name, item_id, "label",
                                     f"expected an index of the {len(endings)} endings, got {fields['label']!r}")
        context = preprocess(fields["activity_label"] + ": " + fields["ctx_a"] + " " + fields["ctx_b"].capitalize())
        return Item(item_id=item_id, data={"context": context, "choices": [preprocess(e) for e in endings],
                                           "gold": int(fields["label"]), "source_id": row.get("source_id")})

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template="preprocess(activity_label + ': ' + ctx_a + ' ' + ctx_b.capitalize())"
                            "<continuation: ' ' + preprocess(ending)>",
            num_fewshot=0, fewshot_ids=(), use_chat_template=False, request_kind="loglikelihood",
            sampling=Sampling(), extraction="argmax-logprob/v1", metrics=("acc", "acc_norm"),
            primary_metric="acc_norm", reference="lm-evaluation-harness hellaswag",
        )

    def max_fewshot(self, spec: TaskSpec) -> int | None:
        return None  # exemplars from the pool (lm-eval: the train split)

    def context(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> str:
        # lm-eval: each exemplar is its context, " ", its gold ending and a blank line
        exemplars = "".join(f"{shot.data['context']} {shot.data['choices'][shot.data['gold']]}\n\n"
                            for shot in fewshot)
        return exemplars + item.data["context"]

    def continuations(self, item: Item, spec: TaskSpec) -> tuple[str, ...]:
        return tuple(f" {ending}" for ending in item.data["choices"])
