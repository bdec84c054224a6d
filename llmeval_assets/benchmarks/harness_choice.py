"""What the 0-shot lm-evaluation-harness `multiple_choice` tasks share (PubMedQA, MedQA, MedMCQA, SciQ, ToxiGen):
one prompt per item (the task's `doc_to_text`), each choice scored as the continuation " " + choice (lm-eval's
default target_delimiter), acc = the most likely choice is the gold one, acc_norm = the same after dividing each
log-likelihood by the choice's character length.

A subclass supplies loading (`load_items`, items carry data["choices"] and data["gold"]), `prompt(item)`, and its
declaration: PROMPT_TEMPLATE (the reference's text), REFERENCE, METRICS, PRIMARY_METRIC. When every choice is a
letter (" A".." D") the variant asks for the letters' log-probabilities in one forward pass (a "choice" request,
as MMLU does); acc_norm then equals acc (every choice has length 1), so such tasks report acc only.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from llmeval_assets.benchmarks.base import Item, TaskSpec
from llmeval_assets.benchmarks.multiple_choice import MultipleChoiceBenchmark
from llmeval_assets.engine.requests import Sampling


class HarnessChoiceBenchmark(MultipleChoiceBenchmark):
    version = "1"
    default_variant = "0shot"
    PROMPT_TEMPLATE: str
    REFERENCE: str
    METRICS: tuple[str, ...] = ("acc", "acc_norm")
    PRIMARY_METRIC = "acc"
    LETTER_CHOICES: tuple[str, ...] = ()  # set when the scored continuations are these letters, not the texts

    def variants(self) -> tuple[str, ...]:
        return ("0shot",)

    @abstractmethod
    def prompt(self, item: Item) -> str:
        """The reference's doc_to_text for this item."""

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        continuation = "' ' + letter" if self.LETTER_CHOICES else "' ' + choice"
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template=f"{self.PROMPT_TEMPLATE}<continuation: {continuation}>",
            num_fewshot=0, fewshot_ids=(), use_chat_template=False,
            request_kind="choice" if self.LETTER_CHOICES else "loglikelihood",
            sampling=Sampling(), extraction="argmax-logprob/v1", metrics=self.METRICS,
            primary_metric=self.PRIMARY_METRIC, reference=self.REFERENCE,
        )

    def context(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> str:
        return self.prompt(item)

    def continuations(self, item: Item, spec: TaskSpec) -> tuple[str, ...]:
        return tuple(f" {choice}" for choice in (self.LETTER_CHOICES or item.data["choices"]))

    def choice_lengths(self, item: Item, spec: TaskSpec) -> tuple[int, ...]:
        return tuple(len(choice) for choice in (self.LETTER_CHOICES or item.data["choices"]))
