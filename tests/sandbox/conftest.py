"""Runs programs in the real sandbox (real bwrap, real subprocesses); nothing is mocked. Hostile tests run twice:
under bubblewrap and in the degraded mode (bwrap disabled through its environment switch)."""

from __future__ import annotations

import os

import pytest

from llmeval_assets.sandbox import CodeProgram, ExecutionResult, Limits, TestCase, execute
from llmeval_assets.sandbox.isolation import DISABLE_BWRAP_ENV, host_isolation

# Short limits so that hostile programs cost seconds, not the defaults' tens of seconds.
FAST = Limits(wall_s=5, cpu_s=2, memory_mb=512, max_processes=16, max_output_bytes=10_000)
IS_ROOT = os.geteuid() == 0


@pytest.fixture(params=["bwrap", "degraded"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "degraded":
        monkeypatch.setenv(DISABLE_BWRAP_ENV, "1")
    else:
        monkeypatch.delenv(DISABLE_BWRAP_ENV, raising=False)
        if host_isolation().mode != "bwrap":
            pytest.skip(f"bubblewrap is not usable on this host: {host_isolation().problems}")
    return request.param


def run(solution: str, *tests: str, limits: Limits = FAST) -> ExecutionResult:
    """Run `solution` with one TestCase per source in `tests`, named t1, t2, ..."""
    cases = tuple(TestCase(name=f"t{index}", source=source) for index, source in enumerate(tests, start=1))
    return execute(CodeProgram(solution=solution, tests=cases), limits)


def live_processes_of_uid(uid: int) -> list[int]:
    """Processes of `uid` that are not zombies (a zombie is dead; only its reaping by init is pending)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                with open(f"/proc/{entry}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    pids.append(int(entry))
        except FileNotFoundError:
            continue
    return pids
