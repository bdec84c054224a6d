"""Engine processes die with their owner: the owner (a real process) is killed with SIGKILL alone, not its process
group, and nothing it started may survive it by more than a few seconds. The first tests stand an ordinary child
titled like vLLM's engine process in for the engine (no vLLM); the last one runs the real vLLM engine on the tiny
model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from llmeval_assets.engine.lifeline import ENGINE_TITLE, all_processes, descendants, stray_engines
from tests.engine.conftest import TINY_KEY, TINY_MAX_MODEL_LEN

SURVIVAL_LIMIT_S = 5.0

# An owner with an engine-like child: prints the child's pid, then waits to be killed.
FAKE_OWNER = textwrap.dedent(f"""
    import subprocess, sys, time
    from llmeval_assets.engine.lifeline import Lifeline
    lifeline = Lifeline.start()
    child = subprocess.Popen([sys.executable, "-c", "import setproctitle, time; "
                              "setproctitle.setproctitle('{ENGINE_TITLE}EngineCore'); time.sleep(600)"])
    time.sleep(1.5)  # the guardian records the owner's descendants every SCAN_S
    if sys.argv[1] == "release":
        lifeline.release()
    print(child.pid, flush=True)
    time.sleep(600)
""")


def start_owner(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "VLLM_LOGGING_LEVEL": "ERROR"}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)


def alive(pid: int) -> bool:
    info = all_processes().get(pid)
    if info is None:
        return False
    with open(f"/proc/{pid}/stat") as handle:
        stat = handle.read()
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until_gone(pids: list[int], limit_s: float) -> list[int]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def kill_owner_only(owner: subprocess.Popen[str]) -> float:
    os.kill(owner.pid, signal.SIGKILL)  # the owner alone: its group (and our test process) lives on
    owner.wait()
    return time.monotonic()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the lifeline needs /proc (Linux)")
def test_sigkill_of_the_owner_takes_its_engine_processes_along():
    owner = start_owner(FAKE_OWNER, "keep")
    engine_pid = int(owner.stdout.readline())
    guardian = [p.pid for p in descendants(owner.pid, all_processes()) if "llmeval_assets.engine.lifeline" in p.title]
    assert guardian, "no lifeline guardian beside the engine"
    kill_owner_only(owner)
    assert wait_until_gone([engine_pid, *guardian], SURVIVAL_LIMIT_S) == []


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the lifeline needs /proc (Linux)")
def test_a_released_lifeline_exits_and_leaves_the_owner_s_processes_alone():
    owner = start_owner(FAKE_OWNER, "release")
    engine_pid = int(owner.stdout.readline())
    try:
        assert not [p for p in descendants(owner.pid, all_processes()) if "engine.lifeline" in p.title]
        kill_owner_only(owner)
        time.sleep(1.5)
        assert alive(engine_pid)  # released: nobody reaps it (the owner alone would have shut it down)
    finally:
        os.kill(engine_pid, signal.SIGKILL)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="stray detection reads /proc (Linux)")
def test_an_orphaned_engine_process_is_reported_with_how_to_stop_it():
    # the middle process exits at once: its engine-titled child is reparented to init (or a subreaper)
    spawner = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import setproctitle, time; "
                                  "setproctitle.setproctitle('{ENGINE_TITLE}EngineCore'); time.sleep(600)"],
                                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(child.pid)
    """)], capture_output=True, text=True, check=True)
    orphan = int(spawner.stdout)
    try:
        deadline = time.monotonic() + 5
        while not all_processes().get(orphan, None) or not all_processes()[orphan].title.startswith(ENGINE_TITLE):
            assert time.monotonic() < deadline, "the orphan never took its title"
            time.sleep(0.05)
        [stray] = [s for s in stray_engines() if s.process.pid == orphan]
        assert stray.orphaned
        assert stray.describe().startswith(f"engine process {orphan} ({ENGINE_TITLE}EngineCore, ")
        assert stray.describe().endswith(f"stop it with `kill {orphan}`")
    finally:
        os.kill(orphan, signal.SIGKILL)


REAL_OWNER = textwrap.dedent(f"""
    import sys
    from pathlib import Path
    from llmeval_assets.engine.weights import local_checkpoint
    from llmeval_assets.engine.vllm_engine import VLLMEngine
    from tests.engine.conftest import cpu_settings
    checkpoint = local_checkpoint("{TINY_KEY}", Path(sys.argv[1]))
    engine = VLLMEngine(cpu_settings("{TINY_KEY}", {TINY_MAX_MODEL_LEN}), checkpoint)
    print("ready", flush=True)
    import time; time.sleep(600)
""")


@pytest.mark.vllm
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the lifeline needs /proc (Linux)")
def test_sigkill_of_an_evaluating_process_leaves_no_vllm_process(tiny_checkpoint):
    owner = start_owner(REAL_OWNER, str(tiny_checkpoint.path))
    try:
        for line in owner.stdout:  # vLLM logs to stdout as well
            if line.strip() == "ready":
                break
        else:
            pytest.fail(f"the engine did not start (exit status {owner.wait()})")
        engines = [p.pid for p in descendants(owner.pid, all_processes()) if p.title.startswith(ENGINE_TITLE)]
        assert engines, "vLLM started no engine process (in-process engine core?)"
        everything = [p.pid for p in descendants(owner.pid, all_processes())]
    except BaseException:
        owner.kill()
        raise
    kill_owner_only(owner)
    survivors = wait_until_gone(everything, SURVIVAL_LIMIT_S)
    for pid in survivors:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert survivors == []
