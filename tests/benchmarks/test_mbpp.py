"""MBPP on its real offline data (500 test problems, task ids 11-510) through the real sandbox: lm-eval's 3-shot
prompt, per-assert tests, setup code, gold = 1 / empty = 0."""

import pytest

from llmeval_assets.benchmarks import Prediction, get_benchmark
from tests.benchmarks.data import load_test_items
from tests.benchmarks.fakes import FakeEngine

# lm-eval mbpp.yaml rendered for test task 11: exemplars 2, 3, 4 ("...[BEGIN]\n{code}\n[DONE]", blank-line joined)
EXPECTED_PROMPT = (
    "You are an expert Python programmer, and here is your task: Write a function to find the similar elements "
    "from the given two tuple lists. Your code should pass these tests:\n\n"
    "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
    "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\n"
    "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)\n[BEGIN]\n"
    "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n"
    "  return (res) \n[DONE]\n\n"
    "You are an expert Python programmer, and here is your task: Write a python function to identify non-prime "
    "numbers. Your code should pass these tests:\n\n"
    "assert is_not_prime(2) == False\nassert is_not_prime(10) == True\nassert is_not_prime(35) == True\n[BEGIN]\n"
    "import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):\r\n"
    "        if n % i == 0:\r\n            result = True\r\n    return result\n[DONE]\n\n"
    "You are an expert Python programmer, and here is your task: Write a function to find the largest integers "
    "from a given list of numbers using heap queue algorithm. Your code should pass these tests:\n\n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] \n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] \n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]\n[BEGIN]\n"
    "import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n"
    "  return largest_nums\n[DONE]\n\n"
    "You are an expert Python programmer, and here is your task: Write a python function to remove first and last "
    "occurrence of a given character from the string. Your code should pass these tests:\n\n"
    'assert remove_Occ("hello","l") == "heo"\nassert remove_Occ("abcda","a") == "bcd"\n'
    'assert remove_Occ("PHP","P") == "H"\n[BEGIN]'
)
SOLUTION_11 = ("\ndef remove_Occ(s, ch):\n    first = s.find(ch)\n    if first < 0:\n        return s\n"
               "    s = s[:first] + s[first + 1:]\n    last = s.rfind(ch)\n"
               "    return s if last < 0 else s[:last] + s[last + 1:]\n")


@pytest.fixture(scope="module")
def mbpp():
    return get_benchmark("mbpp")


@pytest.fixture(scope="module")
def items():
    return load_test_items("mbpp")


def test_offline_data_is_the_full_test_split(items):
    assert len(items) == 500
    assert (items[0].item_id, items[-1].item_id) == ("11", "510")


def test_default_prompt_matches_lm_eval_mbpp(mbpp, items):
    spec = mbpp.task_spec()
    engine = FakeEngine(generate=lambda r: SOLUTION_11)
    (prediction,) = mbpp.predict(engine, items[:1], spec)
    (request,) = engine.requests
    assert request.prompt == EXPECTED_PROMPT
    assert (request.sampling.stop, request.sampling.max_tokens, request.sampling.temperature) == (("[DONE]",), 256, 0.0)
    (score,) = mbpp.score(items[:1], [prediction], spec)
    assert score.values == {"pass@1": 1.0}


def test_each_assert_is_a_test_and_failures_are_named(mbpp, items):
    from llmeval_assets.sandbox import execute

    # right only when the character is at both ends: "abcda" and "PHP" pass, "hello" does not
    program = mbpp.build_program(items[0], "def remove_Occ(s, ch):\n    return s[1:-1] if s[0] == ch else s\n")
    assert [t.name for t in program.tests] == ["test[1]", "test[2]", "test[3]"]
    result = execute(program)
    assert {t.name: t.status for t in result.tests} == {"test[1]": "failed", "test[2]": "passed", "test[3]": "passed"}
    assert not result.passed


def test_setup_code_runs_after_the_solution(mbpp, items):
    # task 367's setup builds trees from the solution's own Node class
    item = next(i for i in items if i.item_id == "367")
    assert "Node(1)" in item.data["test_setup_code"]
    spec = mbpp.task_spec()
    (score,) = mbpp.score([item], mbpp.gold_predictions([item], spec), spec)
    assert score.values == {"pass@1": 1.0}


def test_gold_scores_one_and_empty_zero(mbpp, items):
    spec, sample = mbpp.task_spec(), items[::25]
    gold = mbpp.aggregate(mbpp.score(sample, mbpp.gold_predictions(sample, spec), spec), spec)
    empty = mbpp.aggregate(mbpp.score(sample, mbpp.empty_predictions(sample, spec), spec), spec)
    assert (gold[0].name, gold[0].value, gold[0].n) == ("pass@1", 1.0, len(sample))
    assert empty[0].value == 0.0


def test_a_crashing_completion_scores_zero(mbpp, items):
    spec = mbpp.task_spec()
    broken = Prediction(item_id="11", outputs=("def remove_Occ(s, ch):\n    return (",))
    (score,) = mbpp.score(items[:1], [broken], spec)
    assert score.values == {"pass@1": 0.0}
    assert "SyntaxError" in score.explanation
