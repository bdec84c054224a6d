"""MMLU (Hendrycks et al. 2021): 14,042 four-choice test questions in 57 subjects; exemplars from the dev split
(5 per subject).

Variants
- "5shot" (default; Open LLM Leaderboard / lm-evaluation-harness `mmlu` with num_fewshot=5): the first 5 dev
  questions of the subject, then the question; score the log-likelihood of " A", " B", " C", " D" after
  "Answer:" (one forward pass: ChoiceRequest; single-token letters make it equal to lm-eval's loglikelihood).
  Prompt (lm-eval `mmlu/default`, `description` + `doc_to_text`, exemplars end with " {letter}\\n\\n"):

      The following are multiple choice questions (with answers) about abstract algebra.

      Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.
      A. 0
      B. 1
      C. 2
      D. 3
      Answer: B

      <question>
      A. <choice 0>
      B. <choice 1>
      C. <choice 2>
      D. <choice 3>
      Answer:

- "0shot": the same without exemplars.
- "chat_5shot" (chat models; Llama 3.1 model card: 5-shot, generate the letter, max 10 tokens, lm-eval
  `mmlu_llama`): each exemplar is a user turn with CHAT_TEMPLATE and an assistant turn "The best answer is X.";
  the final reply is prefilled with "The best answer is" and the first standalone letter generated is the answer.

Metrics: acc (micro average over all questions, stderr clustered by subject) and acc_macro (mean of the 57
subject accuracies, the number lm-eval's `mmlu` group and the Llama card's macro_avg report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llmeval_assets.benchmarks.base import Item, MetricValue, SampleScore, TaskSpec, aggregate_scores, register
from llmeval_assets.benchmarks.multiple_choice import MultipleChoiceBenchmark
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    HubSplit,
    hub_split,
    load_hf_rows,
    offline_path,
    read_arrow_dir,
    require,
    require_str_list,
    unknown_source_error,
)
from llmeval_assets.engine.requests import Message, Sampling
from llmeval_assets.scoring import choice_letters, macro_mean_stderr

SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine", "college_physics",
    "computer_security", "conceptual_physics", "econometrics", "electrical_engineering", "elementary_mathematics",
    "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry", "high_school_computer_science",
    "high_school_european_history", "high_school_geography", "high_school_government_and_politics",
    "high_school_macroeconomics", "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
    "high_school_psychology", "high_school_statistics", "high_school_us_history", "high_school_world_history",
    "human_aging", "human_sexuality", "international_law", "jurisprudence", "logical_fallacies",
    "machine_learning", "management", "marketing", "medical_genetics", "miscellaneous", "moral_disputes",
    "moral_scenarios", "nutrition", "philosophy", "prehistory", "professional_accounting", "professional_law",
    "professional_medicine", "professional_psychology", "public_relations", "security_studies", "sociology",
    "us_foreign_policy", "virology", "world_religions",
)
LETTERS = choice_letters(4)
SHOTS_PER_SUBJECT = 5

DESCRIPTION = "The following are multiple choice questions (with answers) about {subject}.\n\n"
QUESTION_TEMPLATE = "{question}\nA. {choices[0]}\nB. {choices[1]}\nC. {choices[2]}\nD. {choices[3]}\nAnswer:"
CHAT_TEMPLATE = (
    "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n"
    "Question: {question}\nA. {choices[0]}\nB. {choices[1]}\nC. {choices[2]}\nD. {choices[3]}\n"
    'Your response should end with "The best answer is [the_answer_letter]" where the [the_answer_letter] is '
    "one of A, B, C or D."
)
ANSWER_PREFIX = "The best answer is"


def _fewshot_ids(per_subject: int = SHOTS_PER_SUBJECT) -> tuple[str, ...]:
    # lm-eval's `first_n` sampler over the dev split: the subject's first dev questions
    return tuple(f"{subject}/dev/{index}" for subject in SUBJECTS for index in range(per_subject))


@register
class MMLU(MultipleChoiceBenchmark):
    name = "mmlu"
    version = "1"
    default_variant = "5shot"
    chat_variant = "chat_5shot"

    def variants(self) -> tuple[str, ...]:
        return ("5shot", "0shot", "chat_5shot")

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        if source == "offline":
            root = offline_path(self.name, source_args)
            rows_by_split = {split: [row for subject in SUBJECTS for row in read_arrow_dir(root / subject / split)]
                             for split in ("test", "dev")}
        elif source == "hf":
            hub = hub_split(self.name, source_args)
            rows_by_split = {split: load_hf_rows(HubSplit(hub.repo, hub.config, split, hub.revision))
                             for split in (hub.split, "dev")}
            rows_by_split["test"] = rows_by_split.pop(hub.split)
        else:
            raise unknown_source_error(self.name, source)
        return self._items(rows_by_split["test"], "test") + self._items(rows_by_split["dev"], "dev")

    def _items(self, rows: Sequence[dict[str, Any]], source_split: str) -> list[Item]:
        items = []
        index_in_subject: dict[str, int] = {}
        for line, row in enumerate(rows):
            where = f"{source_split} row {line}"
            subject = require(row, "subject", str, dataset=self.name, row=where)
            if subject not in SUBJECTS:
                raise DatasetFormatError(self.name, where, "subject", f"unknown subject {subject!r}")
            index = index_in_subject[subject] = index_in_subject.get(subject, -1) + 1
            item_id = f"{subject}/{source_split}/{index}"
            choices = require_str_list(row, "choices", dataset=self.name, row=item_id, min_len=4)
            answer = require(row, "answer", int, dataset=self.name, row=item_id)
            if len(choices) != 4 or not 0 <= answer < 4:
                raise DatasetFormatError(self.name, item_id, "answer" if len(choices) == 4 else "choices",
                                         f"expected 4 choices and an answer in 0..3, got {len(choices)} and {answer}")
            question = require(row, "question", str, dataset=self.name, row=item_id)
            items.append(Item(item_id=item_id, group=subject, split="test" if source_split == "test" else "fewshot",
                              data={"question": question, "choices": choices, "gold": answer}))
        return items

    # ---- prompts ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        num_fewshot = 0 if variant == "0shot" else SHOTS_PER_SUBJECT
        chat = variant == "chat_5shot"
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template=(CHAT_TEMPLATE + "\n<assistant prefix>" + ANSWER_PREFIX) if chat
            else DESCRIPTION + "<exemplars: QUESTION_TEMPLATE + ' {letter}\\n\\n'>" + QUESTION_TEMPLATE,
            num_fewshot=num_fewshot, fewshot_ids=_fewshot_ids() if num_fewshot else (),
            use_chat_template=chat,
            request_kind="generate" if chat else "choice",
            sampling=Sampling(max_tokens=10, temperature=0.0) if chat else Sampling(),
            extraction="first-standalone-letter/v1" if chat else "argmax-logprob/v1",
            metrics=("acc",),
            # the card reports the macro average; lm-eval's `mmlu` group weights subjects by size (micro)
            primary_metric="acc_macro" if chat else "acc",
            reference=("Llama 3.1 model card (lm-eval mmlu_llama)" if chat else
                       f"lm-evaluation-harness mmlu, num_fewshot={num_fewshot}"),
        )

    def max_fewshot(self, spec: TaskSpec) -> int | None:
        return SHOTS_PER_SUBJECT  # the dev split holds five questions per subject

    def adjust_spec(self, spec: TaskSpec) -> TaskSpec:
        # exemplars are each subject's first dev questions: as many ids as the spec shows per subject
        return replace(spec, fewshot_ids=_fewshot_ids(spec.num_fewshot) if spec.num_fewshot else ())

    def context(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> str:
        exemplars = "".join(f"{self._question(shot)} {LETTERS[shot.data['gold']]}\n\n" for shot in fewshot)
        return DESCRIPTION.format(subject=(item.group or "").replace("_", " ")) + exemplars + self._question(item)

    @staticmethod
    def _question(item: Item) -> str:
        return QUESTION_TEMPLATE.format(question=item.data["question"].strip(), choices=item.data["choices"])

    def continuations(self, item: Item, spec: TaskSpec) -> tuple[str, ...]:
        return tuple(f" {letter}" for letter in LETTERS)

    def choice_lengths(self, item: Item, spec: TaskSpec) -> tuple[int, ...]:
        return tuple(len(letter) for letter in LETTERS)  # the choices scored are the letters, not the texts

    def chat_messages(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> list[Message]:
        messages: list[Message] = []
        for shot in fewshot:
            messages.append({"role": "user", "content": self._chat_question(shot)})
            messages.append({"role": "assistant", "content": f"{ANSWER_PREFIX} {LETTERS[shot.data['gold']]}."})
        messages.append({"role": "user", "content": self._chat_question(item)})
        return messages

    @staticmethod
    def _chat_question(item: Item) -> str:
        return CHAT_TEMPLATE.format(question=item.data["question"].strip(), choices=item.data["choices"])

    def answer_prefix(self, spec: TaskSpec) -> str:
        return ANSWER_PREFIX if spec.request_kind == "generate" else ""

    # ---- metrics ----

    def aggregate(self, scores: Sequence[SampleScore], spec: TaskSpec) -> list[MetricValue]:
        metrics = aggregate_scores(scores, spec.metrics)  # micro: every question counts the same
        if scores:
            macro = macro_mean_stderr([s.values["acc"] for s in scores], [s.group for s in scores])
            metrics.append(MetricValue("acc_macro", macro.mean, macro.stderr, macro.n, macro.n_clusters))
        return metrics
