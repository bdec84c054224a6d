"""MATH (Hendrycks et al. 2021): the full 5,000-problem test set, seven subjects (the group for clustered standard
errors). The gold answer is the last \\boxed{...} of the reference solution, not the Minerva-normalized `answer`
field some copies carry (that normalization loses e.g. "\\text{Evelyn}" -> "Evelyn", "90^\\circ" -> "90").

Variants
- "minerva_4shot" (default; lm-evaluation-harness `minerva_math_<subject>`): the 4 Minerva exemplars
  (Lewkowycz et al. 2022), plain completion, greedy, stop "Problem:", max 256 tokens (lm-eval's default
  max_gen_toks; a category's max_tokens replaces it). Prompt:

      Problem:
      Find the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}

      Solution: The expressions inside each square root must be non-negative. [...]
      Final Answer: The final answer is $[2,5)$. I hope it is correct.

      [... 3 more exemplars, separated by a blank line ...]

      Problem:
      {problem}

      Solution:

- "chat_cot_0shot" (instruct models; Llama 3.1 model card: 0-shot CoT, max 5120 tokens): one user turn,
  CHAT_TEMPLATE = "{problem}\\nPlease reason step by step, and put your final answer within \\boxed{}.", rendered
  with the model's chat template. (Meta's exact internal prompt is not public in a form we could check; this is
  the common `\\boxed{}` instruction, which the extraction below reads.)

Extraction: "Final Answer: The final answer is X. I hope it is correct." (lm-eval's Minerva rule), else the
content of the last \\boxed{...} (or \\fbox{...}, or "\\boxed X") in the completion; None when neither occurs.
A reasoning model's thinking is dropped first (scoring.split_reasoning); cut off while thinking = unanswered.

Metric exact_match: the answer equals the gold when math-verify (`math_verify.parse` / `verify`, which compares
symbolically: "\\frac{1}{2}" == "0.5", "x^2+1" == "1+x^2") says so, or, when it cannot parse either side, when the
two strings agree after Minerva's normalize_final_answer. Deviation from lm-eval: lm-eval reports two numbers,
`exact_match` (Minerva normalization + sympy) and `math_verify` (on the whole completion); ours is one number
on the extracted answer, a superset of both rules' successes on well-formed answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from llmeval_assets.benchmarks.base import Benchmark, Item, Prediction, SampleScore, ScoringContext, TaskSpec, register
from llmeval_assets.benchmarks.generation import first_answer, generate_for_items, predictions_by_item
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    HubSplit,
    hub_split,
    load_hf_rows,
    offline_path,
    read_oe_eval_docs,
    require,
    unknown_source_error,
)
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import Message, Sampling

SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
            "prealgebra", "precalculus")


def _offline_subject_file(subject: str) -> str:
    return f"minerva_math_{subject}/gold_bpb_0shot/requests.jsonl.gz"


# The Minerva exemplars as lm-eval's minerva_math/utils.py `list_fewshot_samples` has them (problem, solution);
# the first problem's stray "}" is in the original.
MINERVA_EXEMPLARS = (
    ("Find the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}",
     "The expressions inside each square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, and "
     "$5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so $5-x>0$, which gives $x<5$. "
     "Therefore, the domain of the expression is $\\boxed{[2,5)}$.\n"
     "Final Answer: The final answer is $[2,5)$. I hope it is correct."),
    ("If $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find $\\det (\\mathbf{A} \\mathbf{B}).$",
     "We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) = (2)(12) = "
     "\\boxed{24}.$\nFinal Answer: The final answer is $24$. I hope it is correct."),
    ("Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how many times "
     "must Terrell lift them in order to lift the same total weight?",
     "If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds of "
     "weight.  If he lifts two 15-pound weights instead for $n$ times, he will lift a total of $2\\cdot15\\cdot "
     "n=30n$ pounds of weight.  Equating this to 480 pounds, we can solve for $n$:\n\\begin{align*}\n30n&=480\\\\\n"
     "\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n\\end{align*}\n"
     "Final Answer: The final answer is $16$. I hope it is correct."),
    ("If the system of equations\n\n\\begin{align*}\n6x-4y&=a,\\\\\n6y-9x &=b.\n\\end{align*}has a solution $(x, y)$ "
     "where $x$ and $y$ are both nonzero,\nfind $\\frac{a}{b},$ assuming $b$ is nonzero.",
     "If we multiply the first equation by $-\\frac{3}{2}$, we obtain\n\n$$6y-9x=-\\frac{3}{2}a.$$Since we also "
     "know that $6y-9x=b$, we have\n\n$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\n"
     "Final Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct."),
)
FEWSHOT_IDS = tuple(f"minerva-math/{index}" for index in range(1, len(MINERVA_EXEMPLARS) + 1))
QUESTION_TEMPLATE = "Problem:\n{problem}\n\nSolution:"
CHAT_TEMPLATE = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}."

MINERVA_ANSWER = re.compile(r"Final Answer: The final answer is(.*?). I hope it is correct.", re.DOTALL)
METRICS = ("exact_match",)


# ---- extraction ----

def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} (braces balanced), or of "\\boxed X" up to the next "$";
    None when there is none or its braces never close."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    if text.startswith("\\boxed ", start):
        return text[start + len("\\boxed "):].split("$")[0].strip()
    open_brace = text.find("{", start)
    if open_brace < 0 or text[start:open_brace] not in ("\\boxed", "\\fbox"):
        return None
    depth = 0
    for index in range(open_brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[open_brace + 1:index]
    return None


def extract_answer(text: str) -> str | None:
    """Minerva's "Final Answer: The final answer is X. I hope it is correct." (as lm-eval, the closing "I hope it
    is correct." may be missing after "X. "), else the last boxed expression."""
    match = MINERVA_ANSWER.search(text + "I hope it is correct.")
    if match:
        answer = match.group(1).strip()
        return _strip_dollars(answer) if answer else None
    return last_boxed(text)


def _strip_dollars(answer: str) -> str:
    return answer[1:-1].strip() if len(answer) >= 2 and answer[0] == answer[-1] == "$" else answer


# ---- equivalence ----

# Minerva's normalization (Lewkowycz et al. 2022, appendix D), as lm-eval's minerva_math/utils.py has it
SUBSTITUTIONS = (("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), (r"\ ", ""), (" ", ""), ("mbox", "text"),
                 (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"))
REMOVED_EXPRESSIONS = (
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units", "\\ldots", "sue",
    "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters", "meals", "edges",
    "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2",
    "\\text{}^3", "\\text{\n}", "\\text{}", r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"',
    "\\dots",
)


def normalize_final_answer(answer: str) -> str:
    answer = answer.split("=")[-1]
    for before, after in SUBSTITUTIONS:
        answer = answer.replace(before, after)
    for expression in REMOVED_EXPRESSIONS:
        answer = answer.replace(expression, "")
    answer = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", answer)
    answer = re.sub(r"(\\text\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", answer)
    answer = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", answer)
    answer = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", answer)
    answer = answer.replace("$", "")
    if answer.replace(",", "").isdigit():
        answer = answer.replace(",", "")
    return answer


def is_equivalent(answer: str, gold: str) -> bool:
    """Normalized strings equal, or math-verify finds the two expressions equal."""
    if normalize_final_answer(answer) == normalize_final_answer(gold):
        return True
    from math_verify import parse, verify

    # \boxed{} makes math-verify read the whole string as one LaTeX answer
    parsed_gold, parsed_answer = parse(f"\\boxed{{{gold}}}"), parse(f"\\boxed{{{answer}}}")
    return bool(parsed_gold and parsed_answer and verify(parsed_gold, parsed_answer))


@register
class MATH(Benchmark):
    name = "math"
    version = "1"
    default_variant = "minerva_4shot"
    chat_variant = "chat_cot_0shot"

    def variants(self) -> tuple[str, ...]:
        return ("minerva_4shot", "chat_cot_0shot")

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        if source == "offline":
            root = offline_path(self.name, source_args)
            rows = {subject: read_oe_eval_docs(root / _offline_subject_file(subject), self.name)
                    for subject in SUBJECTS}
        elif source == "hf":
            hub = hub_split(self.name, source_args)  # one config per subject
            rows = {subject: load_hf_rows(HubSplit(hub.repo, subject, hub.split, hub.revision))
                    for subject in SUBJECTS}
        else:
            raise unknown_source_error(self.name, source)
        return [self._item(subject, index, row) for subject in SUBJECTS for index, row in enumerate(rows[subject])]

    def _item(self, subject: str, index: int, row: dict[str, Any]) -> Item:
        item_id = f"{subject}/{index}"
        solution = require(row, "solution", str, dataset=self.name, row=item_id)
        target = last_boxed(solution)
        if target is None:
            raise DatasetFormatError(self.name, item_id, "solution", "no \\boxed{...} final answer")
        return Item(item_id=item_id, group=subject, data={
            "problem": require(row, "problem", str, dataset=self.name, row=item_id),
            "solution": solution,
            "level": require(row, "level", str, dataset=self.name, row=item_id),
            "target": target,
        })

    # ---- prompts ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        chat = variant == "chat_cot_0shot"
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template=(f"<user>{CHAT_TEMPLATE}" if chat
                             else f"{QUESTION_TEMPLATE} {{solution}}\n\n (x4), then {QUESTION_TEMPLATE}"),
            num_fewshot=0 if chat else len(MINERVA_EXEMPLARS), fewshot_ids=() if chat else FEWSHOT_IDS,
            use_chat_template=chat, request_kind="generate",
            sampling=(Sampling(max_tokens=5120, temperature=0.0) if chat
                      else Sampling(max_tokens=256, temperature=0.0, stop=("Problem:",))),
            extraction="minerva-final-answer-or-last-boxed/v1",
            metrics=METRICS, primary_metric="exact_match",
            reference="Llama 3.1 model card, MATH (CoT) 0-shot" if chat else "lm-evaluation-harness minerva_math",
        )

    def max_fewshot(self, spec: TaskSpec) -> int | None:
        return 0 if spec.variant == "chat_cot_0shot" else len(MINERVA_EXEMPLARS)

    def prompt(self, item: Item, spec: TaskSpec) -> str:
        """The plain-text prompt of the default variant."""
        exemplars = "".join(f"{QUESTION_TEMPLATE.format(problem=problem)} {solution}\n\n"
                            for problem, solution in MINERVA_EXEMPLARS[: spec.num_fewshot])
        return exemplars + QUESTION_TEMPLATE.format(problem=item.data["problem"])

    def chat_messages(self, item: Item) -> tuple[Message, ...]:
        """The chat variant's single user turn."""
        return ({"role": "user", "content": CHAT_TEMPLATE.format(problem=item.data["problem"])},)

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        if spec.use_chat_template and not spec.chat_wrapped:
            return generate_for_items(engine, items, spec.sampling, self.chat_messages)
        return generate_for_items(engine, items, spec.sampling, lambda item: self.prompt(item, spec))

    # ---- scoring ----

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        reasoning_model = ctx.reasoning_model if ctx else False
        scores = []
        for item in items:
            prediction = by_id[item.item_id]
            answer_text, cut_off = first_answer(prediction, reasoning_model)
            answer = extract_answer(answer_text)
            correct = answer is not None and is_equivalent(answer, item.data["target"])
            scores.append(SampleScore(item_id=item.item_id, values={"exact_match": float(correct)}, answer=answer,
                                      target=item.data["target"], group=item.group, unanswered=cut_off,
                                      explanation=prediction.error or ""))
        return scores

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        """The reference solutions (ending in their \\boxed{} answer) as completions."""
        return [Prediction(item_id=item.item_id, outputs=(item.data["solution"],)) for item in items]
