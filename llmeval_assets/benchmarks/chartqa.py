"""ChartQA (Masry et al. 2022): questions about charts; test split 2,500 (1,250 human-written, 1,250 augmented).

Variant "lmms_eval" (lmms-eval `chartqa`, `default` prompt): the chart, then

    {question}
    Answer the question with a single word.

greedy, 16 new tokens. Metric relaxed_accuracy, as the paper defines it (end of section 5.1, after Methani et al.
2020): a numeric answer is correct within 5% of the gold number (a trailing % divides by 100), any other answer
must match exactly, ignoring case; the completion is compared whole after stripping whitespace and a trailing
period. Items are grouped by split (human_test / augmented_test), so per-split values come with the overall one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmeval_assets.benchmarks.base import Item, Prediction, SampleScore, ScoringContext, TaskSpec, register
from llmeval_assets.benchmarks.generation import predictions_by_item
from llmeval_assets.benchmarks.sources import require
from llmeval_assets.benchmarks.visual_qa import LMMS_EVAL, VisualQABenchmark, completion

POST_PROMPT = "\nAnswer the question with a single word."
MAX_RELATIVE_CHANGE = 0.05


def to_number(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correct(prediction: str, target: str) -> bool:
    predicted, gold = to_number(prediction), to_number(target)
    if predicted is not None and gold:  # a gold 0 has no relative tolerance: exact match, as the paper's code
        return abs(predicted - gold) / abs(gold) <= MAX_RELATIVE_CHANGE
    return prediction.lower() == target.lower()


def clean_answer(text: str) -> str:
    return text.strip().rstrip(".").strip()


@register
class ChartQA(VisualQABenchmark):
    name = "chartqa"
    version = "1"
    max_tokens = 16

    def item_from_row(self, row: dict[str, Any], index: int) -> Item:
        item_id = f"test-{index}"
        question = require(row, "question", str, dataset=self.name, row=item_id)
        answer = require(row, "answer", str, dataset=self.name, row=item_id)
        split = require(row, "type", str, dataset=self.name, row=item_id)
        return Item(item_id=item_id, data={"question": question, "answer": answer}, group=split)

    def question_text(self, item: Item) -> str:
        return item.data["question"] + POST_PROMPT

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        return self.spec(variant, "<image>{question}" + POST_PROMPT, "whole-answer/relaxed-5pct/v1",
                         ("relaxed_accuracy",), f"{LMMS_EVAL} chartqa (default prompt)")

    def gold_answer(self, item: Item) -> str:
        return item.data["answer"]

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        scores = []
        for item in items:
            answer = clean_answer(completion(by_id[item.item_id]))
            correct = bool(answer) and relaxed_correct(answer, item.data["answer"])
            scores.append(SampleScore(item_id=item.item_id, values={"relaxed_accuracy": float(correct)},
                                      answer=answer or None, target=item.data["answer"], group=item.group))
        return scores
