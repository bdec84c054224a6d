"""Hostile completions: each must be scored as a failure while this pytest process and the host are unaffected.
Each runs under bubblewrap and degraded; a layer the degraded mode does not have is skipped there (and said so
by isolation_report, see test_sandbox_basics)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from llmeval_assets.sandbox import Limits
from llmeval_assets.sandbox.isolation import host_isolation

from .conftest import FAST, IS_ROOT, live_processes_of_uid, run

CORRECT = "def add(a, b):\n    return a + b\n"


def assert_host_still_runs_programs() -> None:
    result = run(CORRECT, "assert add(1, 2) == 3")
    assert result.passed, result


def test_cpu_bound_infinite_loop_times_out(mode: str) -> None:
    result = run("while True:\n    pass\n", "assert True")

    assert not result.passed
    assert result.status == "timeout"
    assert result.duration_s < FAST.wall_s + 2


def test_sleeping_forever_hits_the_wall_clock_limit(mode: str) -> None:
    result = run("def add(a, b):\n    import time\n    time.sleep(600)\n", "assert add(1, 2) == 3")

    assert result.status == "timeout"
    assert result.tests[0].status == "timeout"
    assert "wall-clock" in result.message
    assert FAST.wall_s - 0.5 < result.duration_s < FAST.wall_s + 2


def _skip_without_per_run_uid(mode: str) -> None:
    if mode == "degraded" and not IS_ROOT:
        pytest.skip("degraded and not root: no per-run uid, the process limit counts this user's processes")


def test_fork_bomb_is_stopped_and_leaves_no_process(mode: str) -> None:
    _skip_without_per_run_uid(mode)
    bomb = "import os\nprint(os.getuid(), flush=True)\nwhile True:\n    os.fork()\n"

    result = run(bomb, "assert True")

    assert not result.passed
    assert result.status == "resource_limit"
    run_uid = int(result.stdout.split()[0])
    assert live_processes_of_uid(run_uid) == []
    assert_host_still_runs_programs()


def test_process_limit_caps_live_children(mode: str) -> None:
    _skip_without_per_run_uid(mode)
    # Children sleep instead of exiting, so they all count at once; the harness must stop them at the end.
    spawner = (
        "import os, time\n"
        "print(os.getuid(), flush=True)\n"
        "children = []\n"
        "try:\n"
        "    for _ in range(100):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(600)\n"
        "            os._exit(0)\n"
        "        children.append(pid)\n"
        "except BlockingIOError:\n"
        "    pass\n"
    )

    result = run(spawner, "assert 4 <= len(children) <= 8, len(children)", limits=Limits(max_processes=8))

    assert result.passed, result  # the program saw the limit: at most 8 processes, itself included
    assert live_processes_of_uid(int(result.stdout.split()[0])) == []


@pytest.mark.parametrize(
    "bomb",
    ["x = bytearray(8 * 1024**3)\n", "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n"],
    ids=["one_allocation", "growing"],
)
def test_memory_bomb_hits_the_memory_limit(mode: str, bomb: str) -> None:
    result = run(bomb, "assert True")

    assert not result.passed
    assert result.status == "resource_limit"
    assert "MemoryError" in result.message


def test_files_outside_the_sandbox_cannot_be_written_or_deleted(mode: str, tmp_path) -> None:
    if mode == "degraded" and not IS_ROOT:
        pytest.skip("degraded and not root: the program runs as this user and may write this user's files")
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("original")
    planted = tmp_path / "planted.txt"
    attempts = [
        f"open({str(sentinel)!r}, 'w').write('overwritten')",
        f"import os; os.remove({str(sentinel)!r})",
        f"open({str(planted)!r}, 'w').write('planted')",
        "open('/usr/lib/llmeval-sandbox-escape', 'w').write('planted')",
    ]

    result = run("", *attempts)

    assert not result.passed
    assert [test.status for test in result.tests] == ["failed"] * len(attempts)
    assert sentinel.read_text() == "original"
    assert not planted.exists()
    assert not os.path.exists("/usr/lib/llmeval-sandbox-escape")


def test_host_tmp_is_not_the_sandbox_tmp(mode: str) -> None:
    if mode == "degraded":
        pytest.skip("degraded: world-writable host directories such as /tmp stay writable (documented)")
    escape = f"/tmp/llmeval-sandbox-escape-{os.getpid()}"

    result = run("", f"open({escape!r}, 'w').write('planted')", f"import os; assert os.path.exists({escape!r})")

    assert result.tests[0].status == "passed"  # /tmp inside is the private scratch tmpfs ...
    assert result.tests[1].status == "passed"
    assert not os.path.exists(escape)  # ... which the host never sees


def test_scratch_directory_is_writable(mode: str) -> None:
    result = run(
        "import os\nopen('notes.txt', 'w').write('kept')\n",
        "assert open('notes.txt').read() == 'kept'",
        "import os, tempfile; assert os.path.realpath(tempfile.gettempdir()) == os.path.realpath(os.getcwd())",
    )

    assert result.passed, result


def test_environment_secrets_are_not_visible(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"hf_sandbox_test_secret_{os.getpid()}"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    snoop = (
        "import os\n"
        "print(dict(os.environ))\n"
        "for pid in (1, os.getppid(), PARENT_PID):\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print('blocked', pid, exc)\n"
    )
    if mode == "degraded" and not IS_ROOT:
        pytest.skip("degraded and not root: the program runs as this user and can read /proc/<parent>/environ")

    result = run(
        f"PARENT_PID = {os.getpid()}\n{snoop}",
        f"import os; assert os.environ.get('HF_TOKEN') == {secret!r}",
        f"import os; assert {secret!r} in str(os.environ)",
    )

    assert not result.passed
    assert [test.status for test in result.tests] == ["failed", "failed"]
    assert secret not in result.stdout + result.stderr
    assert "PATH" in result.stdout  # the snoop did run and print its environment


def test_network_connection_to_the_host_is_impossible(mode: str) -> None:
    if mode == "degraded" and not host_isolation().network_filter:
        pytest.skip(f"degraded without the seccomp network filter: {host_isolation().problems}")
    connections: list[object] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    connections.append(listener.accept())
                except TimeoutError:
                    continue

        acceptor = threading.Thread(target=accept)
        acceptor.start()
        try:
            # Prove the listener is reachable from here, then that the sandbox cannot reach it.
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            time.sleep(0.3)
            reachable_from_host = len(connections)
            result = run(
                "import socket\n",
                f"socket.create_connection(('127.0.0.1', {port}), timeout=2).close()",
                "socket.create_connection(('pypi.org', 443), timeout=2).close()",
            )
            time.sleep(0.3)
        finally:
            stop.set()
            acceptor.join()

    assert reachable_from_host == 1
    assert not result.passed
    assert [test.status for test in result.tests] == ["failed", "failed"]
    assert len(connections) == 1  # only ours


def test_host_unix_sockets_are_unreachable(mode: str) -> None:
    """An abstract Unix socket (a D-Bus or container-runtime style endpoint) has no file permissions to stop a
    program: bwrap's network namespace hides it, the degraded mode's filter refuses socket(2) itself. Socket pairs,
    which reach nothing outside, still work."""
    if mode == "degraded" and not host_isolation().network_filter:
        pytest.skip(f"degraded without the seccomp network filter: {host_isolation().problems}")
    address = f"\0llmeval-sandbox-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(address)
        listener.listen()
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(address)  # reachable from here

        result = run(
            "import socket\n",
            f"socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect({address!r})",
            "a, b = socket.socketpair(); a.sendall(b'x'); assert b.recv(1) == b'x'",
        )

    assert [test.status for test in result.tests] == ["failed", "passed"]


def test_killing_the_parent_does_not_reach_this_process(mode: str) -> None:
    if mode == "degraded" and not IS_ROOT:
        pytest.skip("degraded and not root: the program runs as this user and may signal this process")
    attempts = [
        "import os; os.kill(os.getppid(), 9)",
        f"import os; os.kill({os.getpid()}, 9)",
        f"import os; os.killpg(os.getpgid({os.getpid()}), 9)",
        "import os; os.kill(-1, 9)",
    ]
    attempts.append("import os; os.killpg(os.getpgid(0), 9)")  # kills the program itself

    result = run("", *attempts, "assert False, 'unreachable: the program killed itself'")

    assert not result.passed
    assert os.getppid() > 1  # we are alive (we run this line) and were not re-parented
    assert_host_still_runs_programs()


def test_output_flood_is_truncated_and_stopped(mode: str) -> None:
    result = run("while True:\n    print('x' * 1000)\n", "assert True")

    assert not result.passed
    assert result.status == "timeout"
    assert len(result.stdout) <= FAST.max_output_bytes + 100
    assert result.stdout.endswith("more bytes truncated]")


def test_large_output_is_truncated_without_changing_the_verdict(mode: str) -> None:
    result = run(CORRECT + "print('y' * 5_000_000)\n", "assert add(2, 2) == 4")

    assert result.passed, result.message
    assert result.stdout.startswith("y" * 100)
    assert len(result.stdout) <= FAST.max_output_bytes + 100


@pytest.mark.parametrize(
    ("solution", "status"),
    [
        ("import sys\nsys.exit(0)\n", "failed"),
        ("raise SystemExit(0)\n", "failed"),
        ("import os\nos._exit(0)\n", "crashed"),
        ("import os\nos._exit(200)\n", "crashed"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", "crashed"),
    ],
    ids=["sys_exit", "raise_system_exit", "os_exit", "os_exit_200", "sigterm_self"],
)
def test_exiting_before_the_tests_is_not_a_pass(mode: str, solution: str, status: str) -> None:
    result = run(CORRECT + solution, "assert add(1, 2) == 3")

    assert not result.passed
    assert result.status == status
    assert [test.status for test in result.tests] == ["not_run"]


@pytest.mark.parametrize("inherited", ["ignored", "blocked"])
def test_a_parent_ignoring_or_blocking_sigterm_does_not_shield_the_program(mode: str, inherited: str) -> None:
    """Ignored signals and the blocked mask survive exec; a long test session (some library of it) once left
    SIGTERM so in this process, and a program that SIGTERMed itself went on to pass its tests."""
    suicide = "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"
    if inherited == "ignored":
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        result = run(CORRECT + suicide, "assert add(1, 2) == 3")
    finally:
        if inherited == "ignored":
            signal.signal(signal.SIGTERM, previous)
        else:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    assert (result.passed, result.status) == (False, "crashed")


def test_exiting_inside_a_test_is_a_failed_test(mode: str) -> None:
    result = run(CORRECT, "import sys; sys.exit(0)", "assert add(1, 2) == 3")

    assert [test.status for test in result.tests] == ["failed", "passed"]
    assert "SystemExit" in result.tests[0].message


def test_forged_results_are_ignored(mode: str) -> None:
    # Fake verdicts on stdout and on the results descriptor (without the run's nonce), then a wrong answer.
    forger = (
        "import os\n"
        "print('passed', flush=True)\n"
        "fake = '0' * 32\n"
        "for fd in range(3, 10):\n"
        "    for line in ('ready -1 - -', 'start 0 - -', 'end 0 passed -', 'done -1 - -'):\n"
        "        try:\n"
        "            os.write(fd, f'{fake} {line}\\n'.encode())\n"
        "        except OSError:\n"
        "            pass\n"
        "def add(a, b):\n"
        "    return a - b\n"
    )

    result = run(forger, "assert add(1, 2) == 3")

    assert not result.passed
    assert result.tests[0].status == "failed"


def test_patching_the_harness_tools_does_not_fake_a_pass(mode: str) -> None:
    patcher = (
        "import builtins, json, os\n"
        "builtins.exec = lambda *args, **kwargs: None\n"
        "builtins.compile = lambda *args, **kwargs: None\n"
        "builtins.enumerate = lambda items: iter([])\n"
        "real_write = os.write\n"
        "os.write = lambda fd, data: real_write(fd, data.replace(b'failed', b'passed'))\n"
        "def add(a, b):\n"
        "    return 0\n"
    )

    result = run(patcher, "assert add(1, 2) == 3")

    assert not result.passed
    assert result.tests[0].status == "failed"


def test_forked_child_cannot_report_for_the_harness(mode: str) -> None:
    # The child returns into the harness and would run the tests against a right answer; only the parent's
    # (wrong) answer may count.
    forker = (
        "import os\n"
        "if os.fork() == 0:\n"
        "    def add(a, b):\n"
        "        return a + b\n"
        "else:\n"
        "    import time; time.sleep(0.5)\n"
        "    def add(a, b):\n"
        "        return a - b\n"
    )

    result = run(forker, "assert add(1, 2) == 3")

    assert not result.passed
    assert result.tests[0].status == "failed"
