"""Ordinary programs: verdicts, per-test outcomes, parallel execution, the isolation report."""

from __future__ import annotations

import json
import logging
import time

import pytest

from llmeval_assets.sandbox import CodeProgram, Limits, TestCase, execute, execute_many, isolation_report
from llmeval_assets.sandbox.isolation import DISABLE_BWRAP_ENV, host_isolation

from .conftest import run

ADD = "def add(a, b):\n    return a + b\n"


def test_correct_solution_passes() -> None:
    result = run(ADD, "assert add(1, 2) == 3", "assert add(-1, 1) == 0")

    assert result.passed
    assert result.status == "passed"
    assert [(test.name, test.status, test.message) for test in result.tests] == [
        ("t1", "passed", ""),
        ("t2", "passed", ""),
    ]
    assert result.isolation == host_isolation().mode


def test_wrong_solution_fails_naming_the_assertion() -> None:
    result = run("def add(a, b):\n    return a * b\n", "assert add(2, 2) == 4", "assert add(1, 2) == 3")

    assert not result.passed
    assert result.status == "failed"
    assert [test.status for test in result.tests] == ["passed", "failed"]
    assert result.tests[1].message == "AssertionError at `assert add(1, 2) == 3`"
    assert result.message.startswith("t2: AssertionError")


def test_each_test_has_its_own_outcome() -> None:
    result = run(
        ADD + "print('from the solution')\n",
        "assert add(1, 1) == 2",
        "assert add(1, 1) == 3, 'one plus one'",
        "add(1)",
        "import time\nfor _ in range(10**9):\n    pass",
        "assert True",
        limits=Limits(wall_s=4, cpu_s=2),
    )

    assert [test.status for test in result.tests] == ["passed", "failed", "failed", "timeout", "not_run"]
    assert result.tests[1].message == "AssertionError: one plus one at `assert add(1, 1) == 3, 'one plus one'`"
    assert "TypeError" in result.tests[2].message
    assert result.status == "timeout"
    assert result.stdout == "from the solution\n"


def test_setup_runs_before_the_solution_and_tests_share_its_namespace() -> None:
    program = CodeProgram(
        setup="import math\nSCALE = 10\n",
        solution="def area(r):\n    return math.pi * r * r * SCALE\n",
        tests=(TestCase("area", "assert round(area(1), 2) == 31.42"), TestCase("names", "assert 'area' in dir()")),
        program_id="circle",
    )

    result = execute(program)

    assert result.passed, result.message
    assert result.program_id == "circle"


def test_solution_that_does_not_compile_fails_with_its_error() -> None:
    result = run("def add(a, b)\n    return a + b\n", "assert add(1, 2) == 3")

    assert result.status == "failed"
    assert result.tests[0].status == "not_run"
    assert "SyntaxError" in result.message


def test_result_serializes_to_json() -> None:
    result = run(ADD, "assert add(1, 2) == 3")

    as_dict = json.loads(json.dumps(result.as_dict()))

    assert as_dict["passed"] is True
    assert as_dict["status"] == "passed"
    assert as_dict["tests"] == [{"name": "t1", "status": "passed", "message": ""}]


def test_program_without_tests_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one TestCase"):
        CodeProgram(solution=ADD, tests=(), program_id="empty")


def test_execute_many_keeps_order_and_runs_in_parallel() -> None:
    # Sleeping programs use no CPU, so 4 of them overlap even on a busy 2-core machine; the longest first, so
    # completion order differs from input order.
    sleeps = [1.6, 1.2, 0.8, 0.4]
    programs = [
        CodeProgram(
            solution=f"import time\ntime.sleep({seconds})\nVALUE = {index}\n",
            tests=(TestCase("value", f"assert VALUE == {index}"),),
            program_id=f"p{index}",
        )
        for index, seconds in enumerate(sleeps)
    ]
    progress: list[tuple[int, int]] = []

    started = time.monotonic()
    results = execute_many(programs, workers=4, progress=lambda done, total: progress.append((done, total)))
    elapsed = time.monotonic() - started

    assert [result.program_id for result in results] == ["p0", "p1", "p2", "p3"]
    assert all(result.passed for result in results)
    assert elapsed < sum(sleeps) - 1.0  # serial would take 4 s
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_isolation_report_under_bwrap() -> None:
    if host_isolation().mode != "bwrap":
        pytest.skip(f"bubblewrap is not usable on this host: {host_isolation().problems}")

    report = isolation_report()

    assert report["mode"] == "bwrap"
    assert report["degraded"] == []
    assert report["namespaces"]["network"] and report["namespaces"]["pid"] and report["namespaces"]["mount"]


def test_degraded_mode_is_reported_and_warned_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(DISABLE_BWRAP_ENV, "yes-for-this-test")  # a fresh value: its first use warns
    caplog.set_level(logging.WARNING, logger="llmeval_assets.sandbox.isolation")

    report = isolation_report()
    result = run(ADD, "assert add(1, 2) == 3")
    isolation_report()

    assert report["mode"] == "degraded"
    if host_isolation().network_filter:
        assert report["network"] == "no sockets, only socket pairs (seccomp filter)"
    else:  # no libseccomp on this host: said, and listed among the missing layers
        assert report["network"] == "NOT isolated"
        assert any("no seccomp network filter" in problem for problem in report["degraded"])
    assert any(DISABLE_BWRAP_ENV in problem for problem in report["degraded"])
    warnings = [record for record in caplog.records if "DEGRADED" in record.getMessage()]
    assert len(warnings) == 1
    assert result.passed and result.isolation == "degraded"
