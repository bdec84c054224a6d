"""HumanEval (Chen et al. 2021): 164 Python functions to complete from their signature and docstring; each is
checked by its `check(candidate)` tests in the sandbox (llmeval_assets.sandbox). Gold: `canonical_solution`.

Variants
- "greedy" (default; lm-evaluation-harness `humaneval_greedy`): 0-shot, the prompt is the `prompt` field itself
  (imports, signature, docstring), plain completion, greedy, max 256 tokens, stop at "\\nclass", "\\ndef", "\\n#",
  "\\nif", "\\nprint" (the Codex paper's stops, which end the function body); pass@1. Prompt for HumanEval/0:

      from typing import List


      def has_close_elements(numbers: List[float], threshold: float) -> bool:
          \"\"\" Check if in given list of numbers, are any two numbers closer to each other than
          given threshold.
          [...]
          \"\"\"

- "sampled_n64" (lm-eval `humaneval`): the same prompt, 64 samples at temperature 0.2, top_p 0.95; pass@1 and
  pass@10 with the unbiased estimator.
- "chat_0shot" (instruct models; Llama 3.1 model card: 0-shot, pass@1, max 1024 tokens; lm-eval
  `humaneval_instruct`, "aligned with the official Llama-3.1-70B-Instruct-evals"): user turn CHAT_TEMPLATE, and
  the assistant's reply is prefilled with ANSWER_PREFIX (which repeats the prompt inside a ```python block), so
  the model continues the function body; the completion is cut at its first "```".

Program: prompt + completion (the unit under test), then the `test` module; each top-level assert of `check`
is its own TestCase (sandbox.split_check_function), so outcomes show which assertion failed.
A reasoning model's thinking is dropped first; a sample cut off while thinking fails without running.
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
from llmeval_assets.benchmarks.sources import read_jsonl, require, source_rows
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import Message, Sampling
from llmeval_assets.sandbox import CodeProgram, split_check_function

STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
CHAT_TEMPLATE = ("Write a solution to the following problem and make sure that it passes the tests:\n"
                 "```python\n{prompt}\n```\n")
ANSWER_PREFIX = "Here is the completed function:\n```python\n{prompt}\n"
CODE_FENCE = "```"
FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


@register
class HumanEval(Benchmark):
    name = "humaneval"
    version = "1"
    default_variant = "greedy"
    chat_variant = "chat_0shot"

    def variants(self) -> tuple[str, ...]:
        return ("greedy", "sampled_n64", "chat_0shot")

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        rows = source_rows(self.name, source, source_args,
                           lambda path: [row for _, row in read_jsonl(path, self.name)])
        items = []
        for line, row in enumerate(rows, start=1):
            task_id = require(row, "task_id", str, dataset=self.name, row=f"row {line}")
            items.append(Item(item_id=task_id, data={field: require(row, field, str, dataset=self.name, row=task_id)
                                                     for field in FIELDS}))
        return items

    # ---- prompts ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        if variant == "sampled_n64":
            sampling = Sampling(max_tokens=256, temperature=0.2, top_p=0.95, stop=STOP, n=64)
        else:
            sampling = Sampling(max_tokens=1024 if variant == "chat_0shot" else 256, temperature=0.0, stop=STOP)
        chat = variant == "chat_0shot"
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template=f"<user>{CHAT_TEMPLATE}<assistant>{ANSWER_PREFIX}" if chat else "{prompt}",
            num_fewshot=0, fewshot_ids=(), use_chat_template=chat, request_kind="generate", sampling=sampling,
            extraction="cut-at-code-fence/v1" if chat else "completion-as-is/v1",
            metrics=pass_at_k_metrics(sampling.n), primary_metric="pass@1",
            reference={"greedy": "lm-evaluation-harness humaneval_greedy",
                       "sampled_n64": "lm-evaluation-harness humaneval",
                       "chat_0shot": "Llama 3.1 model card (lm-eval humaneval_instruct)"}[variant],
        )

    def chat_messages(self, item: Item) -> tuple[Message, ...]:
        return ({"role": "user", "content": CHAT_TEMPLATE.format(prompt=item.data["prompt"])},)

    def adjust_spec(self, spec: TaskSpec) -> TaskSpec:
        return with_pass_at_k(spec)

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        def request_input(item: Item) -> str:
            if spec.use_chat_template and not spec.chat_wrapped:
                # the reply must start with the prefix: render the chat, then continue it as plain text
                return (engine.apply_chat_template(self.chat_messages(item))
                        + ANSWER_PREFIX.format(prompt=item.data["prompt"]))
            return item.data["prompt"]

        return generate_for_items(engine, items, spec.sampling, request_input)

    # ---- scoring ----

    def build_program(self, item: Item, completion: str) -> CodeProgram:
        """The function (prompt + completion) and its tests, one TestCase per top-level assert of `check`."""
        return CodeProgram(solution=item.data["prompt"] + completion,
                           tests=split_check_function(item.data["test"], item.data["entry_point"]),
                           program_id=item.item_id)

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        def program(item: Item, completion: str) -> CodeProgram:
            if spec.use_chat_template:  # the body ends where the model closes the code block
                completion = completion.split(CODE_FENCE, 1)[0]
            return self.build_program(item, completion)

        return score_code_samples(self.name, items, predictions, program, spec, ctx)

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        """The canonical solutions as completions of the prompt."""
        return [Prediction(item_id=item.item_id, outputs=(item.data["canonical_solution"],) * spec.sampling.n)
                for item in items]
