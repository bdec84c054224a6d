"""`llmeval sandbox` on real benchmark items (HumanEval and MBPP offline data) through the real sandbox."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llmeval_assets.cli.main import app

HAS_CLOSE_ELEMENTS = (
    "    for i, a in enumerate(numbers):\n"
    "        for j, b in enumerate(numbers):\n"
    "            if i != j and abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
)


def invoke(tmp_path, completion: str, *args: str):
    completion_file = tmp_path / "completion.py"
    completion_file.write_text(completion)
    return CliRunner().invoke(app, ["sandbox", *args, "--completion-file", str(completion_file)])


def test_passing_humaneval_completion_as_json(tmp_path) -> None:
    outcome = invoke(tmp_path, HAS_CLOSE_ELEMENTS, "--dataset", "humaneval", "--task-id", "HumanEval/0", "--json")

    assert outcome.exit_code == 0, outcome.output
    result = json.loads(outcome.output)
    assert result["passed"] is True and result["status"] == "passed"
    assert len(result["tests"]) == 7 and {test["status"] for test in result["tests"]} == {"passed"}


def test_failing_humaneval_completion_names_the_failed_assertions(tmp_path) -> None:
    outcome = invoke(tmp_path, "    return False\n", "--dataset", "humaneval", "--task-id", "HumanEval/0")

    assert outcome.exit_code == 1
    assert "NOT PASSED (failed)" in outcome.output
    assert "failed         check[1]: AssertionError at `assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)" in (
        outcome.output
    )


def test_mbpp_completion(tmp_path) -> None:
    # MBPP 11: remove the first and last occurrence of a character; this answer removes only the first.
    wrong = "def remove_Occ(s, ch):\n    return s.replace(ch, '', 1)\n"

    outcome = invoke(tmp_path, wrong, "--dataset", "mbpp", "--task-id", "11", "--json")

    result = json.loads(outcome.output)
    assert outcome.exit_code == 1
    assert result["status"] == "failed"
    assert [(test["name"], test["status"]) for test in result["tests"]] == [
        ("test[1]", "failed"),
        ("test[2]", "failed"),
        ("test[3]", "failed"),
    ]
    assert result["tests"][0]["message"] == 'AssertionError at `assert remove_Occ("hello","l") == "heo"`'


def test_unknown_task_id_is_a_usage_error(tmp_path) -> None:
    outcome = invoke(tmp_path, "pass\n", "--dataset", "humaneval", "--task-id", "HumanEval/999")

    assert outcome.exit_code == 2
    assert "humaneval has no item 'HumanEval/999'" in outcome.output
