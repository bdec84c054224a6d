"""Run programs in the sandbox: one subprocess tree per program, output read with a cap, results from the
harness's private channel turned into per-test outcomes. Pure CPU; `execute_many` runs programs in parallel."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from llmeval_assets.sandbox.isolation import (
    UID_RANGE,
    HostIsolation,
    bwrap_command,
    degraded_command,
    host_isolation,
    sandbox_env,
)
from llmeval_assets.sandbox.types import CodeProgram, ExecutionResult, Limits, TestOutcome

_READ_CHUNK = 65536
_RESULTS_CAP_BYTES = 4_000_000  # the harness writes ~100 bytes + message per test; anything beyond is abuse
# After the harness exits, how long to keep reading pipes that something it left behind may hold open.
_EXIT_GRACE_S = 0.2
_KILL_ROUNDS = 200  # x 5 ms


def execute(program: CodeProgram, limits: Limits = Limits()) -> ExecutionResult:
    """Run one program and its tests in the sandbox; never raises for anything the program does."""
    isolation = host_isolation()
    started = time.monotonic()
    run_uid = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0] if isolation.is_root else None
    nonce = secrets.token_hex(16)
    payload = _payload(program, limits, nonce, run_uid, isolation)
    try:
        raw = _run_harness(payload, limits, isolation, run_uid)
    except OSError as exc:
        return _error_result(program, isolation, time.monotonic() - started, f"could not start the sandbox: {exc}")
    return _verdict(program, raw, nonce, limits, isolation, time.monotonic() - started)


def execute_many(
    programs: Sequence[CodeProgram],
    limits: Limits = Limits(),
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ExecutionResult]:
    """Run programs in parallel (threads driving sandbox subprocesses, one per CPU by default); results come
    back in the order of `programs`. `progress(done, total)` is called from this thread as runs finish."""
    host_isolation()  # probe (and warn) once, before the threads start
    workers = workers or len(os.sched_getaffinity(0))
    results: list[ExecutionResult | None] = [None] * len(programs)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        futures = {pool.submit(execute, program, limits): index for index, program in enumerate(programs)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(programs))
    return results  # type: ignore[return-value]  # every slot is filled above


def _payload(program: CodeProgram, limits: Limits, nonce: str, run_uid: int | None, isolation: HostIsolation) -> bytes:
    return json.dumps(
        {
            "nonce": nonce,
            "setup": program.setup,
            "solution": program.solution,
            "tests": [{"name": test.name, "source": test.source} for test in program.tests],
            "limits": {
                "cpu_s": limits.cpu_s,
                "memory_mb": limits.memory_mb,
                "max_processes": limits.max_processes,
                "scratch_mb": limits.scratch_mb,
            },
            "drop_to_uid": run_uid,
            "preload_modules": isolation.preload_modules,
            "block_network": isolation.network_filter,
        }
    ).encode()


@dataclass
class _CappedBuffer:
    cap: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - room)

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        return text + (f"\n[... {self.dropped} more bytes truncated]" if self.dropped else "")


@dataclass
class _RawRun:
    stdout: _CappedBuffer
    stderr: _CappedBuffer
    results: _CappedBuffer
    timed_out: bool  # killed at the wall-clock deadline
    returncode: int | None = None  # the harness's (or bwrap's) own exit status; None when timed out


def _run_harness(payload: bytes, limits: Limits, isolation: HostIsolation, run_uid: int | None) -> _RawRun:
    results_read, results_write = os.pipe()
    scratch = None
    try:
        if isolation.mode == "bwrap":
            assert isolation.bwrap_path is not None  # the bwrap mode is chosen only where bwrap was found
            command = bwrap_command(isolation.bwrap_path, isolation.is_root, results_write, limits.scratch_mb)
            cwd, env = "/", {}
        else:
            scratch = tempfile.mkdtemp(prefix="llmeval-sandbox-")
            if run_uid is not None:
                os.chown(scratch, run_uid, run_uid)
            command = degraded_command(results_write)
            cwd, env = scratch, sandbox_env(scratch)
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(results_write,),
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group, killed as a whole at the end
        )
    except BaseException:
        os.close(results_read)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        os.close(results_write)
    try:
        raw = _collect(process, payload, results_read, limits)
    finally:
        _kill_everything(process, run_uid)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    if not raw.timed_out:
        raw.returncode = process.returncode
    return raw


def _collect(process: subprocess.Popen, payload: bytes, results_read: int, limits: Limits) -> _RawRun:
    """Feed the payload, read stdout/stderr/results until the harness exits or the deadline passes."""
    assert process.stdin and process.stdout and process.stderr  # started with three pipes
    stdout, stderr = _CappedBuffer(limits.max_output_bytes), _CappedBuffer(limits.max_output_bytes)
    results = _CappedBuffer(_RESULTS_CAP_BYTES)
    deadline = time.monotonic() + limits.wall_s
    pending_input = memoryview(payload)
    pipes = 3
    exited_at = None
    # Readable once the process has exited; it does not reap it, so the zombie keeps the pid (and the process
    # group id) from being reused before we kill the group.
    exit_fd = os.pidfd_open(process.pid)
    results_file = os.fdopen(results_read, "rb", buffering=0)
    with selectors.DefaultSelector() as selector:
        os.set_blocking(process.stdin.fileno(), False)
        selector.register(process.stdin, selectors.EVENT_WRITE)
        selector.register(process.stdout, selectors.EVENT_READ, stdout)
        selector.register(process.stderr, selectors.EVENT_READ, stderr)
        selector.register(results_file, selectors.EVENT_READ, results)
        selector.register(exit_fd, selectors.EVENT_READ)
        try:
            while True:
                now = time.monotonic()
                if exited_at is not None and (pipes == 0 or now - exited_at > _EXIT_GRACE_S):
                    return _RawRun(stdout, stderr, results, timed_out=False)
                if now >= deadline:
                    return _RawRun(stdout, stderr, results, timed_out=True)
                wait_until = deadline if exited_at is None else min(deadline, exited_at + _EXIT_GRACE_S)
                for key, _ in selector.select(timeout=wait_until - now):
                    if key.fileobj is exit_fd:
                        exited_at = time.monotonic()
                        selector.unregister(exit_fd)
                    elif key.fileobj is process.stdin:
                        pending_input = _write_some(process, selector, pending_input)
                    else:
                        try:
                            chunk = os.read(key.fd, _READ_CHUNK)
                        except OSError:
                            chunk = b""
                        if chunk:
                            key.data.add(chunk)  # read all (the pipe must not fill up), keep up to the cap
                        else:
                            selector.unregister(key.fileobj)
                            pipes -= 1
        finally:
            os.close(exit_fd)
            for stream in (process.stdin, process.stdout, process.stderr, results_file):
                stream.close()


def _write_some(process: subprocess.Popen, selector: selectors.BaseSelector, pending: memoryview) -> memoryview:
    assert process.stdin is not None
    try:
        pending = pending[os.write(process.stdin.fileno(), pending) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:  # it exited without reading its input; the verdict will say so
        pending = pending[len(pending) :]
    if not pending:
        selector.unregister(process.stdin)
        process.stdin.close()
    return pending


def _kill_everything(process: subprocess.Popen, run_uid: int | None) -> None:
    # The group first, while the (possibly zombie) leader still holds its id; under bwrap, killing the outer
    # bwrap also kills the sandbox's init (--die-with-parent) and with it the whole pid namespace.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if run_uid is not None:
        # Processes that left the group (setsid) still carry the run's uid; under bwrap the pid namespace dies
        # with its init anyway, but only asynchronously, and we return only once the run is gone.
        _kill_uid(run_uid)


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid` and return once none is alive. kill(-1) from a child that has become that
    uid reaches exactly those; it is repeated because a process forking during a sweep can leave a child the
    sweep missed, and a killed process is gone only a moment later."""
    for _ in range(_KILL_ROUNDS):
        if not _live_processes_of(uid):
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which only makes system calls
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.005)


def _live_processes_of(uid: int) -> bool:
    """Whether a process of `uid` other than a zombie exists (a zombie is dead, waiting for its parent)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):  # it ended meanwhile
            continue
    return False


@dataclass
class _Report:
    """What the harness said on its results channel (lines without the run's nonce are ignored)."""

    ready: bool = False
    done: bool = False
    started: set[int] = field(default_factory=set)
    ended: dict[int, tuple[str, str]] = field(default_factory=dict)
    program_error: tuple[str, str] | None = None


_HARNESS_TEST_STATUSES = ("passed", "failed", "resource_limit")  # what the harness itself can report
_HARNESS_ERROR_STATUSES = ("failed", "resource_limit")


def _parse_report(data: bytes, nonce: str, test_count: int) -> _Report:
    report = _Report()
    for line in data.decode("ascii", errors="replace").splitlines():
        parts = line.split(" ")
        if len(parts) != 5 or parts[0] != nonce:
            continue
        _, event, index_text, status, message_hex = parts
        try:
            index = int(index_text)
            message = "" if message_hex == "-" else bytes.fromhex(message_hex).decode("utf-8", errors="replace")
        except ValueError:
            continue
        if event == "ready":
            report.ready = True
        elif event == "done":
            report.done = True
        elif event == "program_error" and status in _HARNESS_ERROR_STATUSES:
            report.program_error = (status, message)
        elif 0 <= index < test_count:
            if event == "start":
                report.started.add(index)
            elif event == "end" and status in _HARNESS_TEST_STATUSES and index not in report.ended:
                report.ended[index] = (status, message)
    return report


def _verdict(
    program: CodeProgram, raw: _RawRun, nonce: str, limits: Limits, isolation: HostIsolation, duration_s: float
) -> ExecutionResult:
    report = _parse_report(bytes(raw.results.data), nonce, len(program.tests))
    if not report.ready:
        if raw.timed_out:
            detail = f"it was not ready within the wall-clock limit of {limits.wall_s:g} s"
        else:
            detail = raw.stderr.text().strip()[-2000:] or f"exit status {raw.returncode}"
        return _error_result(program, isolation, duration_s, f"the sandbox did not start the program: {detail}")

    if report.program_error is not None:
        status, message = report.program_error
        tests = tuple(TestOutcome(test.name, "not_run", f"not run: {message}") for test in program.tests)
    elif report.done:
        tests = tuple(
            TestOutcome(test.name, *report.ended.get(index, ("not_run", "the harness reported no result")))
            for index, test in enumerate(program.tests)
        )
        first_failure = next((test for test in tests if test.status != "passed"), None)
        if first_failure is None:
            status, message = "passed", ""
        else:
            status = "failed" if first_failure.status == "not_run" else first_failure.status
            message = f"{first_failure.name}: {first_failure.message}"
    else:
        status, message = _why_unfinished(raw, limits, isolation)
        tests = tuple(
            TestOutcome(test.name, *report.ended[index])
            if index in report.ended
            else TestOutcome(test.name, status, message)
            if index in report.started
            else TestOutcome(test.name, "not_run", f"not run: {message}")
            for index, test in enumerate(program.tests)
        )
    return ExecutionResult(
        passed=status == "passed",
        status=status,
        tests=tests,
        stdout=raw.stdout.text(),
        stderr=raw.stderr.text(),
        duration_s=duration_s,
        isolation=isolation.mode,
        program_id=program.program_id,
        message=message,
    )


def _why_unfinished(raw: _RawRun, limits: Limits, isolation: HostIsolation) -> tuple[str, str]:
    """(status, message) for a run that ended before the harness reported `done`."""
    if raw.timed_out:
        return "timeout", f"wall-clock limit of {limits.wall_s:g} s reached"
    code = raw.returncode
    assert code is not None  # a run that did not time out has exited
    # bwrap reports a child killed by signal N as exit status 128 + N (a program exiting with such a status
    # looks the same, and is scored as a failure either way).
    killed_by = _signal(-code if code < 0 else code - 128 if isolation.mode == "bwrap" else 0)
    if killed_by == signal.SIGXCPU:
        return "timeout", f"CPU time limit of {limits.cpu_s:g} s reached"
    if killed_by == signal.SIGKILL:
        return "resource_limit", "killed by SIGKILL (CPU hard limit or out of memory)"
    if killed_by is not None:
        return "crashed", f"killed by signal {killed_by.name}"
    return "crashed", f"the program exited with status {code} before its tests finished"


def _signal(number: int) -> signal.Signals | None:
    try:
        return signal.Signals(number) if number > 0 else None
    except ValueError:
        return None


def _error_result(program: CodeProgram, isolation: HostIsolation, duration_s: float, message: str) -> ExecutionResult:
    return ExecutionResult(
        passed=False,
        status="error",
        tests=tuple(TestOutcome(test.name, "not_run", "not run: sandbox error") for test in program.tests),
        stdout="",
        stderr="",
        duration_s=duration_s,
        isolation=isolation.mode,
        program_id=program.program_id,
        message=message,
    )
