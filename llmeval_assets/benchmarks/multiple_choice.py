"""What MMLU, ARC-Challenge and HellaSwag share: scoring multiple choice by log-likelihood (acc, acc_norm) and
by a generated choice letter (chat variants). A subclass supplies loading, prompts and continuations.

Items carry `data["choices"]` (choice texts) and `data["gold"]` (index of the right one).

Request kinds, chosen by the variant's TaskSpec.request_kind:
- "choice": one ChoiceRequest per item, the log-probabilities of each continuation's first token after one forward
  pass (valid only when every continuation is a single token, e.g. " A".." D"; the engine rejects others);
- "loglikelihood": one LoglikelihoodRequest per choice (lm-eval's `multiple_choice` output type);
- "generate": a chat prompt that asks for the letter; the completion's first standalone letter is the answer.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from llmeval_assets.benchmarks.base import (
    Benchmark,
    Item,
    Prediction,
    SampleScore,
    ScoringContext,
    TaskSpec,
    draw_fewshot,
)
from llmeval_assets.benchmarks.generation import first_answer, generate_for_items, predictions_by_item
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import ChoiceRequest, LoglikelihoodRequest, Message
from llmeval_assets.scoring import choice_letters, extract_choice_letter, score_choices

# Logprob given to the gold / other choices in gold predictions: the gold choice wins acc and acc_norm.
_GOLD_LOGPROB, _OTHER_LOGPROB = 0.0, -100.0


class MultipleChoiceBenchmark(Benchmark):
    @abstractmethod
    def context(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> str:
        """The plain-text prompt whose continuations are scored (log-likelihood variants)."""

    @abstractmethod
    def continuations(self, item: Item, spec: TaskSpec) -> tuple[str, ...]:
        """The scored continuation of each choice, e.g. (" A", " B", ...) or (" " + text, ...)."""

    def choice_lengths(self, item: Item, spec: TaskSpec) -> tuple[int, ...]:
        """Character lengths used by acc_norm: the choice texts without the leading space (lm-eval)."""
        return tuple(len(choice) for choice in item.data["choices"])

    def chat_messages(self, item: Item, spec: TaskSpec, fewshot: Sequence[Item]) -> list[Message]:
        """Conversation for the generative-letter variants (few-shot examples as earlier turns)."""
        raise NotImplementedError(f"{self.name} has no generative variant")

    def answer_prefix(self, spec: TaskSpec) -> str:
        """Text that starts the assistant's reply (lm-eval's gen_prefix), e.g. "The best answer is"; "" for none."""
        return ""

    def fewshot_for(self, item: Item, spec: TaskSpec, pool: dict[str, Item]) -> list[Item]:
        """The item's exemplars: those of spec.fewshot_ids in the item's group (MMLU: the item's subject), in
        spec order; a variant without fixed ids (or a run's exemplar file) draws them (base.draw_fewshot)."""
        if spec.num_fewshot == 0:
            return []
        if not spec.fewshot_ids or spec.fewshot_source:
            return draw_fewshot(self.name, item, list(pool.values()), spec)
        missing = [i for i in spec.fewshot_ids if i not in pool]
        if missing:
            raise KeyError(f"{self.name}: few-shot item {missing[0]!r} is not in the few-shot pool "
                           f"({len(missing)} of {len(spec.fewshot_ids)} missing)")
        return [pool[i] for i in spec.fewshot_ids if pool[i].group == item.group][: spec.num_fewshot]

    # ---- requests ----

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        pool = {item.item_id: item for item in fewshot_pool}
        shots = {item.item_id: self.fewshot_for(item, spec, pool) for item in items}
        if spec.request_kind == "choice":
            return self._predict_choice(engine, items, spec, shots)
        if spec.request_kind == "loglikelihood":
            return self._predict_loglikelihood(engine, items, spec, shots)
        if spec.request_kind == "generate":
            return self._predict_generate(engine, items, spec, shots)
        raise ValueError(f"{self.name}: unknown request kind {spec.request_kind!r}")

    def _predict_choice(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                        shots: dict[str, list[Item]]) -> list[Prediction]:
        requests = [ChoiceRequest(request_id=item.item_id, context=self.context(item, spec, shots[item.item_id]),
                                  choices=self.continuations(item, spec)) for item in items]
        predictions = [Prediction(item_id=request.request_id, logprobs=result.logprobs, prompt_hash=result.prompt_hash,
                                  tokens_in=result.tokens_in, latency_s=result.latency_s)
                       if result.error is None else None
                       for request, result in zip(requests, engine.choice_logprobs(requests), strict=True)]
        # An engine refuses a ChoiceRequest (sets `error`) when a continuation is not a single token for its
        # tokenizer; the full log-likelihood gives the same number then, so those items are asked that way.
        refused = [item for item, prediction in zip(items, predictions, strict=True) if prediction is None]
        fallback = {p.item_id: p for p in self._predict_loglikelihood(engine, refused, spec, shots)} if refused else {}
        return [prediction or fallback[item.item_id] for item, prediction in zip(items, predictions, strict=True)]

    def _predict_loglikelihood(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                               shots: dict[str, list[Item]]) -> list[Prediction]:
        per_item: list[list[LoglikelihoodRequest]] = []
        for item in items:
            context = self.context(item, spec, shots[item.item_id])
            per_item.append([LoglikelihoodRequest(request_id=f"{item.item_id}#{index}", context=context,
                                                  continuation=continuation)
                             for index, continuation in enumerate(self.continuations(item, spec))])
        results = iter(engine.loglikelihood([request for requests in per_item for request in requests]))
        predictions = []
        for item, requests in zip(items, per_item, strict=True):
            item_results = [next(results) for _ in requests]
            errors = [r.error for r in item_results if r.error is not None]
            predictions.append(Prediction(
                item_id=item.item_id,
                logprobs=() if errors else tuple(r.logprob for r in item_results),
                is_greedy=tuple(r.is_greedy for r in item_results),
                prompt_hash=item_results[0].prompt_hash,
                tokens_in=sum(r.tokens_in for r in item_results),
                latency_s=sum(r.latency_s for r in item_results),
                error=errors[0] if errors else None))
        return predictions

    def _predict_generate(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                          shots: dict[str, list[Item]]) -> list[Prediction]:
        prefix = self.answer_prefix(spec)

        def request_input(item: Item) -> str | tuple[Message, ...]:
            messages = tuple(self.chat_messages(item, spec, shots[item.item_id]))
            # the reply must start with the prefix: render the chat, then continue it as plain text
            return engine.apply_chat_template(messages) + prefix if prefix else messages

        return generate_for_items(engine, items, spec.sampling, request_input)

    # ---- scoring ----

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        reasoning_model = ctx.reasoning_model if ctx else False
        if spec.request_kind == "generate":
            return [self._score_letter(item, by_id[item.item_id], spec, reasoning_model) for item in items]
        return [self._score_logprobs(item, by_id[item.item_id], spec) for item in items]

    def _score_logprobs(self, item: Item, prediction: Prediction, spec: TaskSpec) -> SampleScore:
        gold = item.data["gold"]
        choices = item.data["choices"]
        target = choices[gold]
        if len(prediction.logprobs) != len(choices):
            reason = prediction.error or f"{len(prediction.logprobs)} log-likelihoods for {len(choices)} choices"
            return SampleScore(item_id=item.item_id, values=dict.fromkeys(spec.metrics, 0.0), answer=None,
                               target=target, group=item.group, explanation=reason)
        result = score_choices(prediction.logprobs, self.choice_lengths(item, spec), gold)
        values = {"acc": result.acc, "acc_norm": result.acc_norm}
        answers = {"acc": choices[result.pred], "acc_norm": choices[result.pred_norm]}
        return SampleScore(item_id=item.item_id, values={m: values[m] for m in spec.metrics},
                           answer=answers[spec.primary_metric] if spec.primary_metric in answers else answers["acc"],
                           answers={m: answers[m] for m in spec.metrics if m in answers},
                           target=target, group=item.group,
                           explanation=f"acc picks choice {result.pred}, acc_norm (per character) picks "
                                       f"{result.pred_norm}; gold is {gold}; log-likelihoods "
                                       + ", ".join(f"{lp:.3f}" for lp in prediction.logprobs))

    def _score_letter(self, item: Item, prediction: Prediction, spec: TaskSpec, reasoning_model: bool) -> SampleScore:
        letters = choice_letters(len(item.data["choices"]))
        target = letters[item.data["gold"]]
        answer_text, cut_off = first_answer(prediction, reasoning_model)
        answer = None if cut_off else extract_choice_letter(answer_text, letters)
        return SampleScore(item_id=item.item_id, values={m: float(answer == target) for m in spec.metrics},
                           answer=answer, target=target, group=item.group, unanswered=cut_off,
                           explanation="cut off while thinking" if cut_off else "")

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        if spec.request_kind == "generate":
            return [Prediction(item_id=item.item_id,
                               outputs=(f" {choice_letters(len(item.data['choices']))[item.data['gold']]}.",))
                    for item in items]
        return [Prediction(item_id=item.item_id,
                           logprobs=tuple(_GOLD_LOGPROB if i == item.data["gold"] else _OTHER_LOGPROB
                                          for i in range(len(item.data["choices"]))))
                for item in items]
