"""GSM8K on its real offline data (1,319 test problems): lm-eval's gsm8k_cot prompt, strict and flexible
extraction on crafted completions, reasoning-model handling, gold = 1 / empty = 0."""

import pytest

from llmeval_assets.benchmarks import Prediction, ScoringContext, get_benchmark
from llmeval_assets.benchmarks.gsm8k import extract_chat_strict, extract_flexible, extract_strict, normalize
from tests.benchmarks.data import load_test_items
from tests.benchmarks.fakes import FakeEngine

FIRST_QUESTION = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
                  "muffins for her friends every day with four. She sells the remainder at the farmers' market "
                  "daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' "
                  "market?")

# lm-eval gsm8k-cot.yaml rendered for test doc 0 (its 8 exemplars, "Q: ...\nA: ..." joined by blank lines)
EXPECTED_PROMPT = (
    "Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
    "there will be 21 trees. How many trees did the grove workers plant today?\n"
    "A: There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have "
    "been 21 - 15 = 6. The answer is 6.\n\n"
    "Q: If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?\n"
    "A: There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.\n\n"
    "Q: Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?\n"
    "A: Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, "
    "they had 74 - 35 = 39. The answer is 39.\n\n"
    "Q: Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did "
    "Jason give to Denny?\n"
    "A: Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. "
    "The answer is 8.\n\n"
    "Q: Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have "
    "now?\n"
    "A: Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. "
    "The answer is 9.\n\n"
    "Q: There were nine computers in the server room. Five more computers were installed each day, from monday to "
    "thursday. How many computers are now in the server room?\n"
    "A: There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers "
    "were added. 9 + 20 is 29. The answer is 29.\n\n"
    "Q: Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf "
    "balls did he have at the end of wednesday?\n"
    "A: Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he "
    "had 35 - 2 = 33 golf balls. The answer is 33.\n\n"
    "Q: Olivia has $23. She bought five bagels for $3 each. How much money does she have left?\n"
    "A: Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars "
    "left. 23 - 15 is 8. The answer is 8.\n\n"
    f"Q: {FIRST_QUESTION}\nA:"
)


@pytest.fixture(scope="module")
def gsm8k():
    return get_benchmark("gsm8k")


@pytest.fixture(scope="module")
def items():
    return load_test_items("gsm8k")


def test_offline_data_is_the_full_test_split(items):
    assert len(items) == 1319
    assert items[0].data["question"] == FIRST_QUESTION
    assert items[0].data["target"] == "18"  # the number after "####"


def test_default_prompt_and_request_match_lm_eval_gsm8k_cot(gsm8k, items):
    spec = gsm8k.task_spec()
    engine = FakeEngine(generate=lambda r: " She sells 16 - 3 - 4 = 9 eggs. 9 * 2 = 18. The answer is 18.\n\n")
    (prediction,) = gsm8k.predict(engine, items[:1], spec)
    (request,) = engine.requests
    assert request.prompt == EXPECTED_PROMPT
    assert (request.sampling.max_tokens, request.sampling.temperature) == (256, 0.0)
    assert request.sampling.stop == ("Q:", "</s>", "<|im_end|>")
    (score,) = gsm8k.score(items[:1], [prediction], spec)
    assert score.values == {"strict_match": 1.0, "flexible_extract": 1.0}


def test_chat_variant_sends_exemplars_as_turns(gsm8k, items):
    spec = gsm8k.task_spec("chat_cot_8shot")
    engine = FakeEngine(generate=lambda r: "9 * 2 = 18. The final answer is 18")
    (prediction,) = gsm8k.predict(engine, items[:1], spec)
    messages = engine.requests[0].messages
    assert [m["role"] for m in messages] == ["user", "assistant"] * 8 + ["user"]
    assert messages[1]["content"].endswith("So there must have been 21 - 15 = 6. The final answer is 6")
    assert messages[-1]["content"] == (
        "Given the following problem, reason and give a final answer to the problem.\n"
        f"Problem: {FIRST_QUESTION}\n"
        'Your response should end with "The final answer is [answer]" where [answer] is the response to the problem.\n')
    assert spec.sampling.max_tokens == 1024
    assert gsm8k.score(items[:1], [prediction], spec)[0].values == {"strict_match": 1.0, "flexible_extract": 1.0}


@pytest.mark.parametrize("completion, strict, flexible", [
    ("So 9 * 2 = 18. The answer is 18.", "18", "18."),  # the trailing "." goes in normalization
    ("The answer is 1,234. Then Q", "1,234.", "1,234."),  # greedy group takes the ".", normalization drops it
    ("She earns 16 - 7 = 9 eggs\n#### 1,234", None, "1,234"),  # "####" is not gsm8k_cot's strict format
    ("The answer is $42.50.", None, "$42.50."),  # lm-eval's strict regex has no "$": only flexible reads it
    ("The answer is 7. Wait, 8 eggs. The answer is 8.", "7.", "8."),  # strict: first match; flexible: last
    ("The answer is 42", "4", "42"),  # lm-eval's quirk: the "." after the group is any character
    ("no digits at all", None, None),
])
def test_extraction_rules(completion, strict, flexible):
    assert extract_strict(completion) == strict
    assert extract_flexible(completion) == flexible


@pytest.mark.parametrize("raw, normalized", [
    ("1,234", "1234"), ("$42.50.", "42.50"), ("18.", "18"), ("#### 72", "72"), ("-3", "-3"),
])
def test_normalization_is_lm_evals_regexes_to_ignore(raw, normalized):
    assert normalize(raw) == normalized


def test_chat_strict_takes_the_last_final_answer():
    assert extract_chat_strict("The final answer is 3. Hmm, no: the final answer is 5. The final answer is $1,200") \
        == "$1,200"
    assert extract_chat_strict("#### 9") is None  # lm-eval gsm8k_cot_llama's regex only
    assert extract_chat_strict("The answer is 9.") is None


def test_5shot_strict_match_is_lm_evals_hash_regex_only(gsm8k, items):
    """lm-eval `gsm8k` strict-match reads "#### N" and nothing else: a "The answer is 16" before it is ignored."""
    item = next(i for i in items if i.data["target"] == "18")
    spec = gsm8k.task_spec("5shot")
    text = "Janet sells 16 - 3 - 4 = 9 eggs. The answer is 16.\nSo she makes 9 * 2 = 18 dollars.\n#### 160"
    (wrong,) = gsm8k.score([item], [Prediction(item_id=item.item_id, outputs=(text,))], spec)
    assert wrong.answer == "160" and wrong.explanation.startswith("strict='160'")
    assert wrong.values == {"strict_match": 0.0, "flexible_extract": 0.0}
    (right,) = gsm8k.score([item], [Prediction(item_id=item.item_id, outputs=(text.replace("160", "18"),))], spec)
    assert right.values == {"strict_match": 1.0, "flexible_extract": 1.0}
    cot = gsm8k.task_spec("cot_8shot")  # gsm8k_cot's strict reads "The answer is" only
    (hash_only,) = gsm8k.score([item], [Prediction(item_id=item.item_id, outputs=("2 * 9 = 18\n#### 18",))], cot)
    assert hash_only.values == {"strict_match": 0.0, "flexible_extract": 1.0}


def test_dollar_answer_scores_only_under_flexible(gsm8k, items):
    item = next(i for i in items if i.data["target"] == "18")
    (score,) = gsm8k.score([item], [Prediction(item_id=item.item_id, outputs=("The answer is $18.",))],
                           gsm8k.task_spec())
    assert score.values == {"strict_match": 0.0, "flexible_extract": 1.0}


def test_reasoning_model_answer_after_think_and_cut_off_is_unanswered(gsm8k, items):
    spec, item = gsm8k.task_spec(), items[0]
    thought = Prediction(item_id=item.item_id, outputs=("<think>The answer is 5. no</think>The answer is 18.",))
    (score,) = gsm8k.score([item], [thought], spec, ScoringContext(reasoning_model=True))
    assert (score.values, score.unanswered) == ({"strict_match": 1.0, "flexible_extract": 1.0}, False)
    cut = Prediction(item_id=item.item_id, outputs=("<think>16 - 3 - 4 = 9, so 18",))
    (score,) = gsm8k.score([item], [cut], spec, ScoringContext(reasoning_model=True))
    assert (score.values, score.unanswered) == ({"strict_match": 0.0, "flexible_extract": 0.0}, True)
    metrics = {m.name: m.value for m in gsm8k.aggregate([score], spec)}
    assert metrics["unanswered"] == 1.0


@pytest.mark.parametrize("variant", ["cot_8shot", "chat_cot_8shot", "5shot"])
def test_gold_scores_one_and_empty_zero(gsm8k, items, variant):
    spec, sample = gsm8k.task_spec(variant), items[::20]
    for predictions, expected in ((gsm8k.gold_predictions(sample, spec), 1.0),
                                  (gsm8k.empty_predictions(sample, spec), 0.0)):
        metrics = {m.name: m.value for m in gsm8k.aggregate(gsm8k.score(sample, predictions, spec), spec)}
        assert (metrics["strict_match"], metrics["flexible_extract"]) == (expected, expected)


def test_missing_prediction_is_an_error(gsm8k, items):
    with pytest.raises(KeyError, match="no prediction for item '1'"):
        gsm8k.score(items[:2], [Prediction(item_id="0")], gsm8k.task_spec())
