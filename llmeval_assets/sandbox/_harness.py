"""Runs INSIDE the sandbox: sets the limits, drops privileges, then runs the untrusted solution and each test.

Standard library only (plus pyseccomp, for the network filter of the degraded mode), and no import of
llmeval_assets: under bubblewrap only this file is mounted.
Usage: python -I -u _harness.py RESULTS_FD, with a JSON payload on stdin (see runner._payload).

Results go to RESULTS_FD as lines `NONCE EVENT INDEX STATUS MESSAGE_HEX` carrying a per-run nonce, never to
stdout, so a solution that prints fake results changes nothing. The payload (and so the nonce) is read before any
untrusted code runs. Everything the harness needs after that is bound to local names first or is a method of a
built-in type, so a solution that patches builtins (`exec`) or modules (`os.write`, `json`) does not change what
the harness reports. A solution that exits early leaves tests without results, which the parent scores as not
run. This is a guard against accidents and cheap tricks, not against code that searches the interpreter's memory
for the nonce (see docs/sandbox.md).
"""

import contextlib
import json
import os
import resource
import signal
import sys

# Imported before the privilege drop when the parent asks (payload "preload_modules"): as an unprivileged uid,
# the interpreter's own directory may be unreachable (a Python under /root, no mount namespace re-exposing it).
_PRELOADED_MODULES = ["array", "bisect", "cmath", "collections", "copy", "ctypes", "datetime", "decimal", "fractions",
                      "functools", "hashlib", "heapq", "itertools", "io", "math", "operator", "pathlib", "random", "re",
                      "shutil", "signal", "socket", "statistics", "string", "subprocess", "tempfile", "textwrap",
                      "typing"]
_MESSAGE_CHARS = 2000
_PR_SET_NO_NEW_PRIVS = 38
# Ignored by every Python process at startup; any other ignored signal was inherited
_PYTHON_IGNORES = {signal.SIGPIPE, signal.SIGXFSZ}


def main() -> None:
    _reset_signals()
    results_fd = int(sys.argv[1])
    payload = json.loads(sys.stdin.buffer.read())
    _detach_stdin()
    os.set_inheritable(results_fd, False)  # subprocesses started by the solution do not get it
    limits = payload["limits"]
    if payload["block_network"]:
        block_network()
    _set_limits(limits, run_uid=payload["drop_to_uid"])
    if payload["drop_to_uid"] is not None:
        if payload["preload_modules"]:
            for name in _PRELOADED_MODULES:
                __import__(name)
        _drop_privileges(payload["drop_to_uid"])

    emit = _make_emitter(results_fd, payload["nonce"])
    run_exec, run_compile, run_enumerate = exec, compile, enumerate
    namespace = {"__name__": "__solution__"}
    streams, exit_now = (sys.stdout, sys.stderr), os._exit
    emit("ready")
    try:
        run_exec(run_compile(payload["setup"], "<setup>", "exec"), namespace)
        run_exec(run_compile(payload["solution"], "<solution>", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from the solution included
        status, message = _classify(exc, source="")
        emit("program_error", status=status, message="the solution raised " + message)
    else:
        for index, test in run_enumerate(payload["tests"]):
            emit("start", index)
            try:
                run_exec(run_compile(test["source"], f"<test {test['name']}>", "exec"), namespace)
            except BaseException as exc:  # noqa: BLE001 - a test raising SystemExit is a failed test, not an exit
                status, message = _classify(exc, source=test["source"])
            else:
                status, message = "passed", ""
            emit("end", index, status, message)
    for stream in streams:
        # A stream the solution closed must not stop the report.
        with contextlib.suppress(BaseException):
            stream.flush()
    emit("done")
    # os._exit skips atexit handlers and finalizers the solution may have registered (they could hang).
    exit_now(0)


def _reset_signals():
    """Signals as in a fresh process. Ignored dispositions and the blocked mask survive exec, so a parent that
    ignores or blocks SIGTERM (a test runner or executor thread, say) would let a program that kills itself
    before its tests run on and pass them; the CPU limit's SIGXCPU must not be ignored either."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for number in signal.valid_signals():
        if number not in _PYTHON_IGNORES and signal.getsignal(number) is signal.SIG_IGN:
            signal.signal(number, signal.SIG_DFL)


def _make_emitter(results_fd, nonce):
    write, getpid, exit_now = os.write, os.getpid, os._exit
    harness_pid = getpid()

    def emit(event, index=-1, status="-", message=""):
        if getpid() != harness_pid:
            # A process forked by the solution returned into the harness: it must not report anything.
            exit_now(1)
        message_hex = message.encode("utf-8", "replace").hex() or "-"
        data = f"{nonce} {event} {index} {status} {message_hex}\n".encode("ascii")
        while data:
            data = data[write(results_fd, data) :]

    return emit


def _detach_stdin():
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


# What the degraded mode's seccomp filter refuses (EPERM), for the program and all it starts. socket(2) of every
# family: without a network namespace, even AF_UNIX reaches the host's services (abstract sockets have no
# permission check); socketpair(2) stays, for multiprocessing and asyncio. io_uring can open sockets without
# socket(2). ptrace and cross-process memory or fd access could borrow a socket of another process of the same uid.
BLOCKED_SYSCALLS = ("socket", "io_uring_setup", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd")


def block_network():
    """Load the seccomp filter of BLOCKED_SYSCALLS: the degraded mode's network layer, where no network namespace
    can be made. Also run by isolation._network_filter_failure to check the host supports it. System calls of
    another ABI (x32, i386's socketcall) hit libseccomp's default for a foreign architecture: the process is killed."""
    import errno

    import pyseccomp as seccomp

    rules = seccomp.SyscallFilter(seccomp.ALLOW)  # sets no_new_privs, which unprivileged filters require
    for name in BLOCKED_SYSCALLS:
        rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
    rules.load()


def _set_limits(limits, run_uid):
    cpu_s = max(1, int(limits["cpu_s"] + 0.999))
    memory = limits["memory_mb"] * 2**20
    scratch = limits["scratch_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))  # SIGXCPU at the soft limit, SIGKILL 1 s later
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (scratch, scratch))
    # RLIMIT_NPROC counts every task of the real uid (in its user namespace). The run's uid may already own
    # tasks we must not count against the program (the sandbox's init, or the user's other processes when
    # degraded), so the limit is what exists now plus the allowance.
    uid = os.getuid() if run_uid is None else run_uid
    nproc = _tasks_owned_by(uid) + limits["max_processes"]
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _tasks_owned_by(uid):
    own_pid = str(os.getpid())
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == own_pid:
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:  # the process ended meanwhile
            continue
    return count


def _drop_privileges(uid):
    import ctypes

    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears every capability: all three uids are now non-zero
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit(f"sandbox harness: could not drop to uid {uid}")
    # No setuid binary (su, sudo) can give privileges back.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit(f"sandbox harness: prctl(PR_SET_NO_NEW_PRIVS) failed, errno {ctypes.get_errno()}")


def _classify(exc, source):
    """(status, message) for an exception raised by the solution or a test."""
    if isinstance(exc, MemoryError):
        return "resource_limit", "MemoryError (memory limit reached)"
    if isinstance(exc, BlockingIOError) and exc.errno == 11:  # EAGAIN from fork: the process limit
        return "resource_limit", "BlockingIOError: process limit reached"
    try:
        detail = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a solution-defined __str__ may raise anything
        detail = type(exc).__name__
    failing_line = _failing_line(exc, source)
    if failing_line:
        detail = f"{detail} at `{failing_line}`" if str(exc) else f"{type(exc).__name__} at `{failing_line}`"
    return "failed", detail[:_MESSAGE_CHARS]


def _failing_line(exc, source):
    """The test's own line where the exception surfaced (the assert statement), if any."""
    lines = source.splitlines()
    line_number = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename.startswith("<test "):
            line_number = traceback.tb_lineno
        traceback = traceback.tb_next
    if line_number is None or not 0 < line_number <= len(lines):
        return ""
    return lines[line_number - 1].strip()


if __name__ == "__main__":
    main()
