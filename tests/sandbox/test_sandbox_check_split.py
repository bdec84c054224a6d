"""split_check_function: one TestCase per assertion, equivalent to calling check(entry_point)."""

from __future__ import annotations

from llmeval_assets.sandbox import CodeProgram, TestCase, execute_many, split_check_function
from tests.benchmarks.data import load_test_items

CHECK = '''
METADATA = {"author": "x"}
import math


def check(candidate):
    assert candidate(1) == 2
    limit = 10
    for value in range(limit):
        assert candidate(value) == value + 1, value
    assert math.isclose(candidate(0.5), 1.5)
'''


def test_each_top_level_assertion_becomes_a_test() -> None:
    tests = split_check_function(CHECK, "inc")

    assert [test.name for test in tests] == ["check[1]", "check[2]", "check[3]"]
    assert "METADATA" in tests[0].source and "candidate = inc" in tests[0].source
    # The assignment before the loop runs with the loop's test, so the loop sees it.
    assert tests[1].source == "limit = 10\nfor value in range(limit):\n    assert candidate(value) == value + 1, value"


def test_split_tests_give_per_assertion_outcomes() -> None:
    tests = split_check_function(CHECK, "inc")
    right = CodeProgram(solution="def inc(x):\n    return x + 1\n", tests=tests)
    wrong_on_floats = CodeProgram(solution="def inc(x):\n    return int(x) + 1\n", tests=tests)

    right_result, wrong_result = execute_many([right, wrong_on_floats])

    assert right_result.passed, right_result.message
    assert [test.status for test in wrong_result.tests] == ["passed", "passed", "failed"]
    assert "math.isclose(candidate(0.5), 1.5)" in wrong_result.tests[2].message


def test_unsplittable_check_functions_become_one_call() -> None:
    returns_early = "def check(candidate):\n    if candidate(0):\n        return\n    assert False\n"
    two_parameters = "def check(candidate, extra):\n    assert candidate(extra)\n"
    no_top_level_assert = "def check(candidate):\n    candidate(1)\n"

    for source in (returns_early, two_parameters, no_top_level_assert, "def other(candidate):\n    assert 1\n"):
        assert split_check_function(source, "f") == (TestCase("check", f"{source}\ncheck(f)\n"),)


def test_split_agrees_with_the_whole_check_on_humaneval() -> None:
    # The first 20 HumanEval problems (the registry's offline copy): canonical solutions pass both ways, a
    # stub returning None fails both ways.
    problems = [item.data for item in load_test_items("humaneval")[:20]]
    programs = []
    for problem in problems:
        whole = (TestCase("check", f"{problem['test']}\ncheck({problem['entry_point']})\n"),)
        split = split_check_function(problem["test"], problem["entry_point"])
        assert len(split) > 1, problem["task_id"]
        stub = f"def {problem['entry_point']}(*args, **kwargs):\n    return None\n"
        canonical = problem["prompt"] + problem["canonical_solution"]
        programs += [CodeProgram(solution=code, tests=tests) for code in (canonical, stub) for tests in (whole, split)]

    results = execute_many(programs)

    verdicts = [result.passed for result in results]
    assert verdicts == [True, True, False, False] * len(problems)
