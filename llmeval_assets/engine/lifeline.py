"""Engine processes die with their owner.

vLLM runs the model in child processes (`VLLM::EngineCore`, and `VLLM::Worker` under it) that do not notice when
the process that built the engine dies without shutting it down (SIGKILL, OOM killer, a closed terminal): they
keep the model's memory (a GPU's, on a GPU) and block the next run. We cannot set a parent-death signal inside
them (vLLM starts them), so while an engine is up its owner keeps a small guardian process, the lifeline, beside
it. The guardian records the owner's descendants every SCAN_S seconds; when the owner dies without releasing it
(learned from a pidfd on the owner, or from the guardian's own parent changing), it sends SIGTERM to every
recorded process still alive (same pid and start time), and SIGKILL to those left after GRACE_S.

`stray_engines()` lists engine processes that do not belong to this process, for a run to say that something
still holds the device before it starts. Linux only (/proc); elsewhere both do nothing.

Run as `python -m llmeval_assets.engine.lifeline OWNER_PID` (by `Lifeline.start`, never by hand).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SCAN_S = 0.5
GRACE_S = 2.0
ENGINE_TITLE = "VLLM::"  # vLLM titles its processes VLLM::EngineCore, VLLM::Worker...
RELEASE = b"release\n"
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    start: int  # clock ticks after boot: with the pid, identifies one process across pid reuse
    title: str  # the command line, as `ps` shows it
    rss_bytes: int


def read_process(pid: int) -> ProcessInfo | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:  # gone, or not ours to read
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the name before it may contain spaces and parentheses
    title = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return ProcessInfo(pid, int(fields[1]), int(fields[19]), title, int(fields[21]) * os.sysconf("SC_PAGE_SIZE"))


def all_processes() -> dict[int, ProcessInfo]:
    if not PROC.is_dir():
        return {}
    infos = (read_process(int(entry.name)) for entry in PROC.iterdir() if entry.name.isdigit())
    return {info.pid: info for info in infos if info is not None}


def descendants(root: int, processes: dict[int, ProcessInfo]) -> list[ProcessInfo]:
    children: dict[int, list[ProcessInfo]] = {}
    for info in processes.values():
        children.setdefault(info.ppid, []).append(info)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


# ------------------------------------------------------------------------------------------------ the owner's side


class Lifeline:
    """The guardian of this process's engine: start it before the engine's processes, release it after they were
    shut down."""

    def __init__(self, guardian: subprocess.Popen[bytes] | None) -> None:
        self._guardian = guardian

    @classmethod
    def start(cls) -> Lifeline:
        if not PROC.is_dir():
            return cls(None)
        guardian = subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid())], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, close_fds=True)
        return cls(guardian)

    def release(self) -> None:
        """The engine was shut down: the guardian exits without touching anything. Safe to call twice."""
        guardian, self._guardian = self._guardian, None
        if guardian is None:
            return
        with contextlib.suppress(OSError):  # a guardian that is already gone needs no release
            assert guardian.stdin is not None
            guardian.stdin.write(RELEASE)
            guardian.stdin.close()
        try:
            guardian.wait(timeout=5)
        except subprocess.TimeoutExpired:
            guardian.kill()
            guardian.wait()


# ------------------------------------------------------------------------------------------------ the guardian


def guard(owner: int) -> int:
    """Watch `owner` until it releases us (exit 0) or dies (kill what it left behind; exit 0)."""
    for signum in (signal.SIGINT, signal.SIGHUP):  # Ctrl-C or a closed terminal reach us with the owner: outlive it
        signal.signal(signum, signal.SIG_IGN)
    try:
        owner_fd: int | None = os.pidfd_open(owner)
    except (AttributeError, OSError):  # no pidfd (old kernel): our own parent changing tells the owner is gone
        owner_fd = None
    control = sys.stdin.fileno()
    watched = [fd for fd in (owner_fd, control) if fd is not None]
    recorded: dict[int, ProcessInfo] = {}
    while True:
        if os.getppid() != owner:
            break
        ready, _, _ = select.select(watched, [], [], SCAN_S)
        if control in ready:
            message = os.read(control, 64)
            if message.startswith(RELEASE.strip()):
                return 0
            if not message:  # the pipe closed without a release: the owner died, or lost its end; keep watching
                watched.remove(control)
        if owner_fd is not None and owner_fd in ready:
            break
        me = os.getpid()
        recorded.update({p.pid: p for p in descendants(owner, all_processes()) if p.pid != me})
    reap(recorded)
    return 0


def reap(recorded: dict[int, ProcessInfo]) -> None:
    """SIGTERM, then after GRACE_S SIGKILL, to each recorded process that is still the same process, and to what
    they started since the last scan."""
    processes = all_processes()
    targets = {pid: info for pid, info in recorded.items()
               if pid in processes and processes[pid].start == info.start}
    for pid in list(targets):
        targets.update({p.pid: p for p in descendants(pid, processes)})
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        if not any(_same_process_alive(info) for info in targets.values()):
            return
        time.sleep(0.1)
    for info in targets.values():
        if _same_process_alive(info):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)


def _same_process_alive(info: ProcessInfo) -> bool:
    now = read_process(info.pid)
    if now is None or now.start != info.start:
        return False
    try:
        state = (PROC / str(info.pid) / "stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"  # a zombie is dead, only not yet reaped by its (new) parent


# ------------------------------------------------------------------------------------------------ strays


@dataclass(frozen=True)
class StrayEngine:
    process: ProcessInfo
    owner: ProcessInfo | None  # its parent, the process that built the engine (or init, for an orphan)
    orphaned: bool  # its owner is gone: nobody will shut it down

    def describe(self) -> str:
        gb = self.process.rss_bytes / 1e9
        who = ("left over from an earlier run whose process is gone" if self.orphaned
               else f"belongs to another process (pid {self.owner.pid}: {self.owner.title[:60]})"
               if self.owner else "of an unknown owner")
        action = f"; stop it with `kill {self.process.pid}`" if self.orphaned else ""
        return (f"engine process {self.process.pid} ({self.process.title[:40]}, {gb:.1f} GB resident) {who}; it "
                f"holds memory (and a GPU's, on a GPU) that this run may need{action}")


def stray_engines() -> list[StrayEngine]:
    """Engine processes that are not descendants of this process, each with whether its owner is gone: an orphan's
    parent is init or a subreaper, never the Python process that built the engine."""
    processes = all_processes()
    mine = {p.pid for p in descendants(os.getpid(), processes)}
    strays = []
    for info in processes.values():
        if not info.title.startswith(ENGINE_TITLE) or info.pid in mine:
            continue
        parent = processes.get(info.ppid)
        if parent is not None and parent.title.startswith(ENGINE_TITLE):
            continue  # a worker under its EngineCore: reported with it
        program = Path(parent.title.split(" ")[0]).name if parent is not None else ""
        strays.append(StrayEngine(info, parent, parent is None or parent.pid == 1 or "python" not in program))
    return strays


if __name__ == "__main__":
    sys.exit(guard(int(sys.argv[1])))
