"""HumanEval on its real offline data (164 problems) through the real sandbox: the 0-shot prompt, programs with
one test per assert, the unbiased pass@k over n samples, the chat variant's code-fence cut, gold = 1 / empty = 0."""

import math

import pytest

from llmeval_assets.benchmarks import Prediction, ScoringContext, get_benchmark
from tests.benchmarks.data import load_test_items
from tests.benchmarks.fakes import FakeEngine

PROMPT_0 = (
    "from typing import List\n\n\n"
    "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    '    """ Check if in given list of numbers, are any two numbers closer to each other than\n'
    "    given threshold.\n"
    "    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n"
    "    False\n"
    "    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n"
    "    True\n"
    '    """\n'
)
CORRECT_0 = ("    return any(abs(a - b) < threshold\n"
             "               for i, a in enumerate(numbers) for j, b in enumerate(numbers) if i != j)\n")
WRONG_0 = "    return False\n"


@pytest.fixture(scope="module")
def humaneval():
    return get_benchmark("humaneval")


@pytest.fixture(scope="module")
def items():
    return load_test_items("humaneval")


def test_offline_data_is_the_full_set(items):
    assert len(items) == 164
    assert (items[0].item_id, items[-1].item_id) == ("HumanEval/0", "HumanEval/163")


def test_default_prompt_is_the_prompt_field_with_codex_stops(humaneval, items):
    spec = humaneval.task_spec()
    engine = FakeEngine(generate=lambda r: CORRECT_0)
    humaneval.predict(engine, items[:1], spec)
    (request,) = engine.requests
    assert request.prompt == PROMPT_0
    assert request.sampling.stop == ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
    assert (request.sampling.temperature, request.sampling.n, spec.metrics) == (0.0, 1, ("pass@1",))


def test_program_has_one_test_per_assert_and_reports_which_failed(humaneval, items):
    from llmeval_assets.sandbox import execute

    program = humaneval.build_program(items[0], WRONG_0)
    assert program.solution == PROMPT_0 + WRONG_0
    assert [t.name for t in program.tests] == [f"check[{i}]" for i in range(1, 8)]  # HumanEval/0 has 7 asserts
    result = execute(program)
    outcomes = {t.name: t.status for t in result.tests}
    # the expected answers of HumanEval/0's asserts: True, False, True, False, True, True, False
    assert outcomes == {"check[1]": "failed", "check[2]": "passed", "check[3]": "failed", "check[4]": "passed",
                        "check[5]": "failed", "check[6]": "failed", "check[7]": "passed"}
    assert not result.passed


def test_pass_at_k_is_the_unbiased_estimator_over_n_samples(humaneval, items):
    spec = humaneval.task_spec("sampled_n64")
    assert (spec.sampling.n, spec.sampling.temperature, spec.sampling.top_p) == (64, 0.2, 0.95)
    assert spec.metrics == ("pass@1", "pass@10")
    engine = FakeEngine(generate=lambda r: [CORRECT_0] * 16 + [WRONG_0] * 48)
    predictions = humaneval.predict(engine, items[:1], spec)
    (score,) = humaneval.score(items[:1], predictions, spec)
    closed_form_pass_at_10 = 1 - math.comb(48, 10) / math.comb(64, 10)
    assert score.values["pass@1"] == pytest.approx(16 / 64)
    assert score.values["pass@10"] == pytest.approx(closed_form_pass_at_10)
    assert score.answer == "16/64 passed"


def test_chat_variant_prefills_the_function_and_cuts_at_the_code_fence(humaneval, items):
    spec = humaneval.task_spec("chat_0shot")
    engine = FakeEngine(generate=lambda r: CORRECT_0 + "```\n\nThis checks every pair.")
    predictions = humaneval.predict(engine, items[:1], spec)
    user = ("Write a solution to the following problem and make sure that it passes the tests:\n"
            f"```python\n{PROMPT_0}\n```\n")
    (request,) = engine.requests
    assert request.messages == ({"role": "user", "content": user},)
    assert request.assistant_prefix == f"Here is the completed function:\n```python\n{PROMPT_0}\n"
    assert humaneval.score(items[:1], predictions, spec)[0].values == {"pass@1": 1.0}


def test_reasoning_model_cut_off_fails_without_running(humaneval, items):
    spec = humaneval.task_spec()
    cut = Prediction(item_id=items[0].item_id, outputs=("<think>I should loop over pairs",))
    (score,) = humaneval.score(items[:1], [cut], spec, ScoringContext(reasoning_model=True))
    assert (score.values, score.unanswered) == ({"pass@1": 0.0}, True)
    assert "no code to run" in score.explanation


def test_gold_scores_one_and_empty_zero(humaneval, items):
    spec, sample = humaneval.task_spec(), items[::8]
    gold = humaneval.aggregate(humaneval.score(sample, humaneval.gold_predictions(sample, spec), spec), spec)
    empty = humaneval.aggregate(humaneval.score(sample, humaneval.empty_predictions(sample, spec), spec), spec)
    assert (gold[0].name, gold[0].value, gold[0].n) == ("pass@1", 1.0, len(sample))
    assert empty[0].value == 0.0
