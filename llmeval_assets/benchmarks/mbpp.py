"""MBPP (Austin et al. 2021), full version, test split: 500 problems (task ids 11-510), each a one-sentence task
and three assert tests, run in the sandbox (llmeval_assets.sandbox). Gold: the reference `code`.

Variant "3shot" (default; lm-evaluation-harness `mbpp`, the 3-shot prompt of the MBPP paper): the exemplars are
MBPP's prompt-split tasks 2, 3 and 4, greedy, max 256 tokens, stop "[DONE]"; pass@1. Prompt (test task 11):

    You are an expert Python programmer, and here is your task: Write a function to find the similar elements from the given two tuple lists. Your code should pass these tests:

    assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)
    assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)
    assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)
    [BEGIN]
    def similar_elements(test_tup1, test_tup2):
      res = tuple(set(test_tup1) & set(test_tup2))
      return (res) 
    [DONE]

    [... exemplars for tasks 3 and 4 ...]

    You are an expert Python programmer, and here is your task: Write a python function to remove first and last occurrence of a given character from the string. Your code should pass these tests:

    assert remove_Occ("hello","l") == "heo"
    assert remove_Occ("abcda","a") == "bcd"
    assert remove_Occ("PHP","P") == "H"
    [BEGIN]

The prompt ends at "[BEGIN]" with no newline, as lm-eval builds it (its target delimiter "\\n" joins only the
exemplars to their code), so the model's completion starts with the newline.

Program: the completion as-is (lm-eval does no post-processing), then each assert of `test_list` as its own
TestCase, preceded by `test_setup_code` (lm-eval drops it; MBPP's own evaluation runs it after the solution, and
task 367 needs it); `challenge_test_list` is not used (as in lm-eval). A reasoning model's thinking is dropped first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmeval_assets.benchmarks.base import Benchmark, Item, Prediction, SampleScore, ScoringContext, TaskSpec, register
from llmeval_assets.benchmarks.generation import (
    generate_for_items,
    pass_at_k_metrics,
    score_code_samples,
    with_pass_at_k,
)
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    read_oe_eval_docs,
    require,
    require_str_list,
    source_rows,
)
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import Sampling
from llmeval_assets.sandbox import CodeProgram, TestCase

# MBPP prompt-split tasks 2, 3, 4 (google-research/mbpp mbpp.jsonl; the same text as lm-eval
# tasks/mbpp/utils.py `list_fewshot_samples`). The prompt split is not in any offline package, so they live here.
EXEMPLARS: tuple[dict[str, Any], ...] = (
    {"task_id": 2, "text": "Write a function to find the similar elements from the given two tuple lists.",
     "code": "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n"
             "  return (res) ",
     "test_list": ["assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
                   "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
                   "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)"]},
    {"task_id": 3, "text": "Write a python function to identify non-prime numbers.",
     "code": "import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):"
             "\r\n        if n % i == 0:\r\n            result = True\r\n    return result",
     "test_list": ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True",
                   "assert is_not_prime(35) == True"]},
    {"task_id": 4,
     "text": "Write a function to find the largest integers from a given list of numbers using heap queue algorithm.",
     "code": "import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n"
             "  return largest_nums",
     "test_list": ["assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ",
                   "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] ",
                   "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]"]},
)
FEWSHOT_IDS = tuple(f"mbpp-prompt/{exemplar['task_id']}" for exemplar in EXEMPLARS)
QUESTION_TEMPLATE = ("You are an expert Python programmer, and here is your task: {text} Your code should pass these "
                     "tests:\n\n{tests}\n[BEGIN]")
EXEMPLAR_TEMPLATE = QUESTION_TEMPLATE + "\n{code}\n[DONE]"


def question(text: str, test_list: Sequence[str]) -> str:
    return QUESTION_TEMPLATE.format(text=text, tests="\n".join(test_list))


@register
class MBPP(Benchmark):
    name = "mbpp"
    version = "1"
    default_variant = "3shot"

    def variants(self) -> tuple[str, ...]:
        return ("3shot",)

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        rows = source_rows(self.name, source, source_args, lambda path: read_oe_eval_docs(path, self.name))
        items = []
        for line, row in enumerate(rows, start=1):
            item_id = str(require(row, "task_id", int, dataset=self.name, row=f"row {line}"))
            test_list = require_str_list(row, "test_list", dataset=self.name, row=item_id, min_len=3)
            if len(test_list) != 3:
                raise DatasetFormatError(self.name, item_id, "test_list", f"expected 3 tests, got {len(test_list)}")
            items.append(Item(item_id=item_id, data={
                "text": require(row, "text", str, dataset=self.name, row=item_id),
                "code": require(row, "code", str, dataset=self.name, row=item_id),
                "test_list": test_list,
                "test_setup_code": row.get("test_setup_code") or "",
            }))
        return items

    # ---- prompts ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        sampling = Sampling(max_tokens=256, temperature=0.0, stop=("[DONE]",))
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template=f"{EXEMPLAR_TEMPLATE}\n\n (x3), then {QUESTION_TEMPLATE}",
            num_fewshot=len(EXEMPLARS), fewshot_ids=FEWSHOT_IDS, use_chat_template=False, request_kind="generate",
            sampling=sampling, extraction="completion-as-is/v1", metrics=pass_at_k_metrics(sampling.n),
            primary_metric="pass@1", reference="lm-evaluation-harness mbpp (3-shot)",
        )

    def max_fewshot(self, spec: TaskSpec) -> int | None:
        return len(EXEMPLARS)

    def prompt(self, item: Item, spec: TaskSpec) -> str:
        exemplars = "".join(EXEMPLAR_TEMPLATE.format(text=e["text"], tests="\n".join(e["test_list"]), code=e["code"])
                            + "\n\n" for e in EXEMPLARS[: spec.num_fewshot])
        return exemplars + question(item.data["text"], item.data["test_list"])

    def adjust_spec(self, spec: TaskSpec) -> TaskSpec:
        return with_pass_at_k(spec)

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        return generate_for_items(engine, items, spec.sampling, lambda item: self.prompt(item, spec))

    # ---- scoring ----

    def build_program(self, item: Item, completion: str) -> CodeProgram:
        """The completion, then each assert of `test_list` as its own test, preceded by the task's setup code
        (after the solution, as MBPP's own evaluation runs it: task 367's setup builds trees of the solution's
        `Node` class)."""
        setup = item.data["test_setup_code"]
        tests = tuple(TestCase(name=f"test[{index}]", source=f"{setup}\n{test}" if setup else test)
                      for index, test in enumerate(item.data["test_list"], start=1))
        return CodeProgram(solution=completion, tests=tests, program_id=item.item_id)

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        return score_code_samples(self.name, items, predictions, self.build_program, spec, ctx)

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        """The reference code as the completion."""
        return [Prediction(item_id=item.item_id, outputs=(item.data["code"],) * spec.sampling.n) for item in items]
