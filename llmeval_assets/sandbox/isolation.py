"""Which isolation layers this host provides, and the command line that applies them to one run.

Two launch modes:
- `bwrap`: bubblewrap puts the harness in fresh mount, pid, network, ipc and uts namespaces, with read-only
  binds of only what Python needs and a private size-capped tmpfs as the one writable place.
- `degraded` (no usable bwrap, or LLMEVAL_SANDBOX_NO_BWRAP=1): the harness runs directly, in its own session,
  with a scrubbed environment and a fresh temporary directory as cwd; a seccomp filter (libseccomp through
  pyseccomp) refuses sockets (socket pairs stay) in place of the network namespace. Said loudly once, and in
  `isolation_report()`.
In both, the harness sets rlimits (CPU, address space, processes, file size, core) and, when we are root, drops
to a fresh random uid for the run, so the process limit counts only this run and root's powers are gone.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DISABLE_BWRAP_ENV = "LLMEVAL_SANDBOX_NO_BWRAP"
HARNESS_PATH = Path(__file__).with_name("_harness.py")
_HARNESS_IN_SANDBOX = "/llmeval_harness.py"
_SCRATCH_IN_SANDBOX = "/tmp"
# System directories Python and its shared libraries live in; each is bound read-only (or recreated as the
# same symlink, on merged-/usr systems). /etc, /home, /root, /var and the project are not exposed.
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
# -I: no PYTHON* variables, no user site-packages, no script directory on sys.path; -u: unbuffered output, so
# what a program printed before a timeout or crash is kept.
_PYTHON_FLAGS = ("-I", "-u")
_ENV_VARS = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
# A run's uid when we are root: random in a range no real account uses, so it owns nothing on the host and
# concurrent runs (even from other processes) do not share a process count.
UID_RANGE = (1 << 20, 1 << 31)


@dataclass(frozen=True)
class HostIsolation:
    mode: str  # "bwrap" | "degraded"
    bwrap_path: str | None
    is_root: bool
    problems: tuple[str, ...]  # layers missing on this host, in words
    network_filter: bool = False  # degraded: the harness loads the seccomp filter that refuses sockets
    # The harness must import the common modules before dropping root: the interpreter's directory is not
    # reachable by an unprivileged uid and no mount namespace re-exposes it.
    preload_modules: bool = False


def sandbox_env(scratch_dir: str) -> dict[str, str]:
    return {**_ENV_VARS, "HOME": scratch_dir, "TMPDIR": scratch_dir}


def bwrap_command(bwrap_path: str, is_root: bool, results_fd: int, scratch_mb: int) -> list[str]:
    """The bwrap + harness command line for one run."""
    namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if is_root:
        # No user namespace: the harness drops to a random host uid itself (RLIMIT_NPROC does not apply to
        # uid 0, and a user namespace would map the sandbox back to it). It keeps only the caps to do so.
        capabilities = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        namespaces.append("--unshare-user")
        capabilities = ["--cap-drop", "ALL"]
    command = [bwrap_path, "--die-with-parent", "--new-session", *namespaces, *capabilities]
    # The scratch tmpfs first: binds made after it stay visible even when the project or its virtual environment
    # lives under /tmp (as in a CI checkout), instead of being hidden by it.
    command += ["--perms", "1777", "--size", str(scratch_mb * 2**20), "--tmpfs", _SCRATCH_IN_SANDBOX]
    command += _filesystem_args()
    command += ["--chdir", _SCRATCH_IN_SANDBOX, "--clearenv"]
    for name, value in sandbox_env(_SCRATCH_IN_SANDBOX).items():
        command += ["--setenv", name, value]
    return [*command, "--", sys.executable, *_PYTHON_FLAGS, _HARNESS_IN_SANDBOX, str(results_fd)]


def degraded_command(results_fd: int) -> list[str]:
    return [sys.executable, *_PYTHON_FLAGS, str(HARNESS_PATH), str(results_fd)]


@functools.cache
def _filesystem_args() -> tuple[str, ...]:
    args: list[str] = []
    for path in _SYSTEM_PATHS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    created: set[str] = set()
    for prefix in _python_prefixes():
        # Parents are created world-traversable: a copy of /root's 0700 would lock out the dropped uid.
        for parent in reversed(Path(prefix).parents[:-1]):
            if str(parent) not in created:
                created.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", prefix, prefix]
    args += ["--ro-bind", str(HARNESS_PATH), _HARNESS_IN_SANDBOX, "--dev", "/dev", "--proc", "/proc"]
    return tuple(args)


def _python_prefixes() -> list[str]:
    """The interpreter's installation and virtual environment, unless a system path already covers them."""
    prefixes: list[str] = []
    for prefix in sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}):
        covered = any(prefix == p or prefix.startswith(p + "/") for p in [*_SYSTEM_PATHS, *prefixes])
        if not covered:
            prefixes.append(prefix)
    return prefixes


_warn_lock = threading.Lock()
_warned: set[tuple[str, ...]] = set()


def host_isolation() -> HostIsolation:
    """The isolation this host gives, probed once per process (and per value of LLMEVAL_SANDBOX_NO_BWRAP).
    Missing layers are logged as a warning the first time."""
    isolation = _probe(os.environ.get(DISABLE_BWRAP_ENV, ""))
    if isolation.problems:
        with _warn_lock:
            if isolation.problems not in _warned:
                _warned.add(isolation.problems)
                logger.warning(
                    "code sandbox is DEGRADED on this host (%s mode): %s",
                    isolation.mode,
                    "; ".join(isolation.problems),
                )
    return isolation


@functools.cache
def _probe(disable_value: str) -> HostIsolation:
    is_root = os.geteuid() == 0
    problems: list[str] = []
    bwrap_path = shutil.which("bwrap")
    if disable_value not in ("", "0"):
        problems.append(f"bubblewrap disabled by {DISABLE_BWRAP_ENV}={disable_value}")
        bwrap_path = None
    elif bwrap_path is None:
        problems.append("bubblewrap (bwrap) is not installed (scripts/bootstrap.sh installs it as root)")
    else:
        failure = _bwrap_failure(bwrap_path, is_root)
        if failure:
            problems.append(f"bubblewrap cannot create its namespaces here: {failure}")
            bwrap_path = None
    mode = "bwrap" if bwrap_path else "degraded"
    network_filter = False
    if mode == "degraded":
        filter_failure = _network_filter_failure()
        network_filter = not filter_failure
        if filter_failure:
            problems.append(f"no seccomp network filter ({filter_failure}): the program can open network connections")
        problems.append(
            "no mount/pid/network namespaces: the program sees the host filesystem"
            + (
                " (as a fresh unprivileged uid)"
                if is_root
                else " as you (your files are writable), its process limit is approximate, "
                "and processes it detaches from its session may outlive the run"
            )
        )
    unreachable = [prefix for prefix in _python_prefixes() if not _reachable_by_anyone(prefix)]
    preload_modules = mode == "degraded" and is_root and bool(unreachable)
    if preload_modules:
        problems.append(
            f"the interpreter under {', '.join(unreachable)} is not reachable by an unprivileged uid: "
            "a program can import only the modules the harness preloads"
        )
    return HostIsolation(
        mode=mode, bwrap_path=bwrap_path, is_root=is_root, problems=tuple(problems), preload_modules=preload_modules,
        network_filter=network_filter,
    )


# Loads the harness's filter in a throwaway interpreter, then checks sockets are refused and socket pairs are not.
_NETWORK_FILTER_CHECK = """
import runpy, socket, sys
runpy.run_path(sys.argv[1])["block_network"]()
for family in (socket.AF_INET, socket.AF_UNIX):
    try:
        socket.socket(family, socket.SOCK_STREAM)
    except PermissionError:
        continue
    sys.exit(f"a {family.name} socket was still allowed")
for end in socket.socketpair():
    end.close()
"""


def _network_filter_failure() -> str:
    """'' when the harness's seccomp network filter works on this host, else why not."""
    try:
        completed = subprocess.run([sys.executable, "-I", "-c", _NETWORK_FILTER_CHECK, str(HARNESS_PATH)],
                                   capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if completed.returncode == 0:
        return ""
    lines = completed.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {completed.returncode}"


def _reachable_by_anyone(path: str) -> bool:
    """Whether every directory down to `path` lets others traverse it (o+x)."""
    return all(os.stat(directory).st_mode & 0o001 for directory in [path, *map(str, Path(path).parents)])


def _bwrap_failure(bwrap_path: str, is_root: bool) -> str:
    """'' when bwrap can run Python in the namespaces we use, else why not."""
    read_end, write_end = os.pipe()
    try:
        command = bwrap_command(bwrap_path, is_root, write_end, scratch_mb=1)
        # Run the interpreter, not the harness: this checks namespaces, mounts and the binds.
        command[command.index("--") + 1 :] = [sys.executable, "-I", "-c", "pass"]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30, pass_fds=(write_end,))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        os.close(read_end)
        os.close(write_end)
    return "" if completed.returncode == 0 else (completed.stderr.strip() or f"exit code {completed.returncode}")


def isolation_report() -> dict:
    """Which layers are active on this host and what is degraded (also logged once at first use)."""
    isolation = host_isolation()
    bwrap = isolation.mode == "bwrap"
    return {
        "mode": isolation.mode,
        "bwrap": isolation.bwrap_path,
        "namespaces": {
            "mount": bwrap,
            "pid": bwrap,
            "network": bwrap,
            "ipc": bwrap,
            "uts": bwrap,
            "user": bwrap and not isolation.is_root,
        },
        "per_run_uid": isolation.is_root,
        "rlimits": ["cpu", "address_space", "processes", "file_size", "core"],
        "cgroup": False,  # memory via RLIMIT_AS, processes via RLIMIT_NPROC (+ pid namespace when bwrap)
        "filesystem": (
            "read-only binds of "
            + ", ".join([*filter(os.path.exists, _SYSTEM_PATHS), *_python_prefixes()])
            + "; private tmpfs /tmp"
            if bwrap
            else "host filesystem; a fresh temporary directory as cwd"
        ),
        "network": (
            "none (empty network namespace)"
            if bwrap
            else "no sockets, only socket pairs (seccomp filter)" if isolation.network_filter else "NOT isolated"
        ),
        "seccomp_network_filter": isolation.network_filter,
        "environment": "cleared; only " + ", ".join(sorted([*_ENV_VARS, "HOME", "TMPDIR"])),
        "kill_at_end": (
            "pid namespace torn down with its init"
            if bwrap
            else "process group" + (" and every process of the run's uid" if isolation.is_root else "")
        ),
        "degraded": list(isolation.problems),
    }
