"""What the generative benchmarks (GSM8K, MATH, HumanEval, MBPP, MT-Bench, RepoBench, and the chat variants of the
multiple-choice ones) share: sending a dataset's generation requests in one engine call, turning results into
Predictions, and pairing predictions with items."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from llmeval_assets.benchmarks.base import Item, Prediction, SampleScore, ScoringContext, TaskSpec
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import GenerateRequest, GenerateResult, Message, Sampling
from llmeval_assets.scoring import ReasoningSplit, split_reasoning

if TYPE_CHECKING:
    from llmeval_assets.sandbox import CodeProgram, ExecutionResult


def prediction_from_result(item_id: str, result: GenerateResult) -> Prediction:
    """Keep every completion (n > 1 for pass@k) with its finish reason: re-scoring never needs the model again."""
    return Prediction(
        item_id=item_id,
        outputs=tuple(c.text for c in result.completions),
        finish_reasons=tuple(c.finish_reason for c in result.completions),
        prompt_hash=result.prompt_hash,
        tokens_in=result.tokens_in,
        tokens_out=sum(c.tokens_out for c in result.completions),
        latency_s=result.latency_s,
        error=result.error,
    )


def first_answer(prediction: Prediction, reasoning_model: bool) -> ReasoningSplit:
    """The answer part of the prediction's first completion (an empty prediction answers ""), and whether the model
    was cut off while thinking."""
    return split_reasoning(prediction.outputs[0] if prediction.outputs else "", reasoning_model)


def generate_for_items(engine: InferenceEngine, items: Sequence[Item], sampling: Sampling,
                       request_input: Callable[[Item], str | Sequence[Message]],
                       assistant_prefix: Callable[[Item], str] | None = None) -> list[Prediction]:
    """One request per item, all in one engine call (the backend batches them); request_id is the item id.
    `request_input(item)` is a plain prompt (str) or a chat conversation (messages, for the chat template);
    `assistant_prefix(item)` prefills a conversation's reply (GenerateRequest.assistant_prefix)."""
    requests = []
    for item in items:
        given = request_input(item)
        if isinstance(given, str):
            requests.append(GenerateRequest(request_id=item.item_id, sampling=sampling, prompt=given))
        else:
            requests.append(GenerateRequest(request_id=item.item_id, sampling=sampling, messages=tuple(given),
                                            assistant_prefix=assistant_prefix(item) if assistant_prefix else None))
    results = engine.generate(requests)
    if len(results) != len(requests):
        raise RuntimeError(f"engine returned {len(results)} results for {len(requests)} requests")
    return [prediction_from_result(request.request_id, result)
            for request, result in zip(requests, results, strict=True)]


def predictions_by_item(benchmark: str, items: Sequence[Item],
                        predictions: Sequence[Prediction]) -> dict[str, Prediction]:
    """Predictions keyed by item id; every item must have one (a silent gap would inflate or deflate the score)."""
    by_id = {p.item_id: p for p in predictions}
    missing = [item.item_id for item in items if item.item_id not in by_id]
    if missing:
        raise KeyError(f"{benchmark}: no prediction for item {missing[0]!r} ({len(missing)} of {len(items)} missing)")
    return by_id


# ---- code benchmarks (HumanEval, MBPP): execute every sample, pass@k per item ----

PASS_AT_K = (1, 10)
DEFAULT_EXECUTION_TIMEOUT_S = 10.0  # per program; generous because the sandbox shares CPUs with other work


def pass_at_k_metrics(n_samples: int) -> tuple[str, ...]:
    """pass@k for each k in PASS_AT_K that n samples can estimate."""
    return tuple(f"pass@{k}" for k in PASS_AT_K if k <= n_samples)


def with_pass_at_k(spec: TaskSpec) -> TaskSpec:
    """A code variant's metrics after its number of samples changed (a profile's or run's n)."""
    return replace(spec, metrics=pass_at_k_metrics(spec.sampling.n))


def score_code_samples(benchmark: str, items: Sequence[Item], predictions: Sequence[Prediction],
                       build_program: Callable[[Item, str], CodeProgram | None], spec: TaskSpec,
                       ctx: ScoringContext | None) -> list[SampleScore]:
    """Run every completion of every item in the sandbox (one parallel batch) and score each item with the unbiased
    pass@k over its n samples (Chen et al. 2021). `build_program` returns None when a completion has no code
    (e.g. a reasoning model cut off while thinking): that sample fails without running. An item without any
    completion (an empty prediction) counts as one failed sample."""
    from llmeval_assets.sandbox import Limits, execute_many
    from llmeval_assets.scoring import pass_at_k

    by_id = predictions_by_item(benchmark, items, predictions)
    reasoning_model = ctx.reasoning_model if ctx else False
    programs: list[CodeProgram] = []
    slots: dict[str, list[int | None]] = {}  # item id -> index into `programs` per sample (None: not run)
    cut_off: dict[str, bool] = {}
    for item in items:
        splits = [split_reasoning(text, reasoning_model) for text in by_id[item.item_id].outputs]
        cut_off[item.item_id] = bool(splits) and all(split.cut_off for split in splits)
        slots[item.item_id] = []
        first_run: dict[str, int] = {}  # identical samples (common at low temperature) run once
        for sample, split in enumerate(splits):
            program = None if split.cut_off else build_program(item, split.answer_text)
            if program is not None and program.solution not in first_run:
                programs.append(replace(program, program_id=f"{item.item_id}#{sample}"))
                first_run[program.solution] = len(programs) - 1
            slots[item.item_id].append(None if program is None else first_run[program.solution])
    timeout = spec.timeout_s or DEFAULT_EXECUTION_TIMEOUT_S
    results = execute_many(programs, Limits(wall_s=timeout, cpu_s=timeout), workers=ctx.workers if ctx else None,
                           progress=ctx.progress if ctx else None) if programs else []

    scores = []
    for item in items:
        item_results = [results[slot] if slot is not None else None for slot in slots[item.item_id]]
        n = max(len(item_results), 1)
        passed = sum(1 for result in item_results if result is not None and result.passed)
        values = {f"pass@{k}": pass_at_k(n, passed, k) for k in PASS_AT_K if k <= n}
        scores.append(SampleScore(
            item_id=item.item_id, values={m: values[m] for m in spec.metrics if m in values},
            answer=f"{passed}/{len(item_results)} passed", target=None, group=item.group,
            unanswered=cut_off[item.item_id], explanation=_failure_summary(item_results)))
    return scores


def _failure_summary(results: Sequence[ExecutionResult | None]) -> str:
    """Why the first failing sample failed (None: it had no code to run)."""
    if not results:
        return "no completion"
    failures = [r for r in results if r is None or not r.passed]
    if not failures:
        return "all samples passed"
    first = failures[0]
    if first is None:
        return f"{len(failures)} failed; the first had no code to run"
    failed_tests = [f"{t.name}: {t.status} {t.message}".strip() for t in first.tests if t.status != "passed"]
    return f"{len(failures)} failed; first: {first.status}: {first.message or '; '.join(failed_tests[:3])}"[:500]
