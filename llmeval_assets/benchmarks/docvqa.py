"""DocVQA (Mathew et al. 2021): questions about scanned documents; validation split 5,349 (the test split's
answers are withheld).

Variant "lmms_eval" (lmms-eval `docvqa_val`, `default` prompt): the page, then

    {question}
    Answer the question using a single word or phrase.

greedy, 32 new tokens. Metric ANLS (average normalized Levenshtein similarity, the DocVQA challenge's): for each
gold answer, 1 - edit distance / the longer string's length, over lower-cased, whitespace-stripped strings; the best
gold answer counts, and a similarity below 0.5 (threshold tau = 0.5) scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmeval_assets.benchmarks.base import Item, Prediction, SampleScore, ScoringContext, TaskSpec, register
from llmeval_assets.benchmarks.generation import predictions_by_item
from llmeval_assets.benchmarks.sources import require, require_str_list
from llmeval_assets.benchmarks.visual_qa import LMMS_EVAL, VisualQABenchmark, completion

POST_PROMPT = "\nAnswer the question using a single word or phrase."
ANLS_THRESHOLD = 0.5


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def anls(prediction: str, answers: Sequence[str]) -> float:
    predicted = " ".join(prediction.strip().lower().split())
    best = 0.0
    for answer in answers:
        gold = " ".join(answer.strip().lower().split())
        longest = max(len(gold), len(predicted))
        similarity = 1.0 - levenshtein(gold, predicted) / longest if longest else 1.0
        best = max(best, similarity if similarity >= ANLS_THRESHOLD else 0.0)
    return best


@register
class DocVQA(VisualQABenchmark):
    name = "docvqa"
    version = "1"
    max_tokens = 32

    def item_from_row(self, row: dict[str, Any], index: int) -> Item:
        question_id = str(require(row, "questionId", (str, int), dataset=self.name, row=index))
        question = require(row, "question", str, dataset=self.name, row=question_id)
        answers = require_str_list(row, "answers", dataset=self.name, row=question_id)
        return Item(item_id=f"q{question_id}", data={"question": question, "answers": answers})

    def question_text(self, item: Item) -> str:
        return item.data["question"] + POST_PROMPT

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        return self.spec(variant, "<image>{question}" + POST_PROMPT, "whole-answer/anls-0.5/v1", ("anls",),
                         f"{LMMS_EVAL} docvqa_val (default prompt)")

    def gold_answer(self, item: Item) -> str:
        return item.data["answers"][0]

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        scores = []
        for item in items:
            answer = completion(by_id[item.item_id]).strip()
            value = anls(answer, item.data["answers"]) if answer else 0.0
            scores.append(SampleScore(item_id=item.item_id, values={"anls": value}, answer=answer or None,
                                      target=" | ".join(item.data["answers"]), group=item.group))
        return scores
