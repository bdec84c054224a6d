"""What the sandbox is asked to run and what it reports back: plain frozen dataclasses, no process handling."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Per-test statuses; `not_run` means the program never got to the test (it exited, crashed or timed out first).
TEST_STATUSES = ("passed", "failed", "timeout", "crashed", "resource_limit", "not_run")
# Whole-run statuses; `error` means the sandbox itself could not run the program (not the program's fault).
RUN_STATUSES = ("passed", "failed", "timeout", "crashed", "resource_limit", "error")


@dataclass(frozen=True)
class TestCase:
    """One test, run after the solution in the solution's namespace, e.g. `assert f(1) == 2`."""

    __test__ = False  # not a pytest test class

    name: str
    source: str


@dataclass(frozen=True)
class CodeProgram:
    """Untrusted code and its tests. `setup` runs first (imports a benchmark needs), then `solution`, then each
    test separately; a test fails on its own without stopping the later ones."""

    solution: str
    tests: tuple[TestCase, ...]
    setup: str = ""
    program_id: str = ""

    def __post_init__(self) -> None:
        if not self.tests:
            # A program without tests would "pass" without being checked at all.
            raise ValueError(f"program {self.program_id or '<unnamed>'}: at least one TestCase is required")
        names = [test.name for test in self.tests]
        if len(set(names)) != len(names):
            raise ValueError(f"program {self.program_id or '<unnamed>'}: test names must be unique, got {names}")


@dataclass(frozen=True)
class Limits:
    """Per-program limits. `max_output_bytes` caps stdout and stderr each; `scratch_mb` caps the private
    writable directory (a tmpfs under bubblewrap, a per-file size limit when degraded)."""

    wall_s: float = 10
    cpu_s: float = 10
    memory_mb: int = 1024
    max_processes: int = 64
    max_output_bytes: int = 64_000
    scratch_mb: int = 64


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    name: str
    status: str  # one of TEST_STATUSES
    message: str  # why it did not pass ("" when passed)


@dataclass(frozen=True)
class ExecutionResult:
    passed: bool  # every test ran and passed
    status: str  # one of RUN_STATUSES
    tests: tuple[TestOutcome, ...]
    stdout: str  # truncated to Limits.max_output_bytes
    stderr: str
    duration_s: float
    isolation: str  # "bwrap" or "degraded" (see isolation_report())
    program_id: str
    message: str = ""  # why the run as a whole did not pass (timeout, crash, solution error, sandbox error)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"tests": [asdict(test) for test in self.tests]}
