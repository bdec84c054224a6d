"""TextVQA (Singh et al. 2019): questions that need reading text in natural images; validation split 5,000, each
with 10 annotator answers.

Variant "lmms_eval" (lmms-eval `textvqa_val`, `default` prompt, no OCR tokens): the image, then

    {question}
    Answer the question using a single word or phrase.

greedy (lmms-eval stops at "ASSISTANT:"; here the chat template's own end of turn stops it), 16 new tokens. Metric
vqa_accuracy, the VQA challenge's: the answer counts min(1, matches / 3) against each set of 9 of the 10 annotator
answers, averaged over the 10 sets. Answers and prediction are normalized first as the VQA evaluation does, in
part: lower case, punctuation removed (a period between digits kept), number words up to ten as digits, articles
a / an / the dropped, whitespace collapsed (its contraction table is not applied).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from llmeval_assets.benchmarks.base import Item, Prediction, SampleScore, ScoringContext, TaskSpec, register
from llmeval_assets.benchmarks.generation import predictions_by_item
from llmeval_assets.benchmarks.sources import require, require_str_list
from llmeval_assets.benchmarks.visual_qa import LMMS_EVAL, VisualQABenchmark, completion

POST_PROMPT = "\nAnswer the question using a single word or phrase."
_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_PUNCTUATION = re.compile(r"(?!(?<=\d)\.(?=\d))[^\w\s]")


def normalize_answer(text: str) -> str:
    words = _PUNCTUATION.sub("", text.replace("\n", " ").replace("\t", " ").strip().lower()).split()
    return " ".join(_NUMBERS.get(word, word) for word in words if word not in _ARTICLES)


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    predicted = normalize_answer(prediction)
    gold = [normalize_answer(answer) for answer in answers]
    per_set = []
    for left_out in range(len(gold)):
        matches = sum(1 for index, answer in enumerate(gold) if index != left_out and answer == predicted)
        per_set.append(min(1.0, matches / 3))
    return sum(per_set) / len(per_set)


@register
class TextVQA(VisualQABenchmark):
    name = "textvqa"
    version = "1"
    max_tokens = 16

    def item_from_row(self, row: dict[str, Any], index: int) -> Item:
        question_id = str(require(row, "question_id", (str, int), dataset=self.name, row=index))
        question = require(row, "question", str, dataset=self.name, row=question_id)
        answers = require_str_list(row, "answers", dataset=self.name, row=question_id, min_len=2)
        return Item(item_id=f"q{question_id}", data={"question": question, "answers": answers})

    def question_text(self, item: Item) -> str:
        return item.data["question"] + POST_PROMPT

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        return self.spec(variant, "<image>{question}" + POST_PROMPT, "vqa-normalized/10-choose-9/v1",
                         ("vqa_accuracy",), f"{LMMS_EVAL} textvqa_val (default prompt, no OCR)")

    def gold_answer(self, item: Item) -> str:
        """The most frequent annotator answer (after normalization); it scores 1 when at least four agree."""
        normalized = [normalize_answer(answer) for answer in item.data["answers"]]
        return max(item.data["answers"], key=lambda answer: normalized.count(normalize_answer(answer)))

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        scores = []
        for item in items:
            answer = completion(by_id[item.item_id]).strip()
            value = vqa_accuracy(answer, item.data["answers"]) if answer else 0.0
            scores.append(SampleScore(item_id=item.item_id, values={"vqa_accuracy": value}, answer=answer or None,
                                      target=self.gold_answer(item), group=item.group))
        return scores
