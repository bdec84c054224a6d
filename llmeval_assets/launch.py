"""`llmeval evaluate`: run a selection through Dagster on the project's instance, so every run, its logs and its
materializations appear in the UI. Only stale or missing partitions run, one run (one engine load) per model."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from llmeval_assets.defs.automation import (
    EVALUATE_JOB,
    REPORTS_JOB,
    SNAPSHOT_JOB,
    missing_snapshots,
    model_run_request,
)
from llmeval_assets.defs.build import build_definitions, default_engine
from llmeval_assets.defs.partitions import models_partitions
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.engine.lifeline import stray_engines
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.evaluation import PartitionStatus, partition_status
from llmeval_assets.instance import get_instance
from llmeval_assets.judging import JudgeChoice
from llmeval_assets.paths import llmeval_home, path_under
from llmeval_assets.planning import build_plan
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.registry import Registry
from llmeval_assets.reporting import reports_out_of_date
from llmeval_assets.snapshots import verify_snapshot

LAUNCHER_TAG, PID_TAG = "llmeval/launched-on", "llmeval/pid"


class EvaluationFailed(RuntimeError):
    pass


def launch_evaluation(registry: Registry, *, registry_dir: Path | None = None, judge: JudgeChoice = JudgeChoice(),
                      choice: ProfileChoice = ProfileChoice(), chunk_size: int | None = None,
                      log: Callable[[str], Any] = print, log_level: str = "INFO",
                      engine: EngineResource | None = None, **selection: Any) -> dict[str, Any]:
    judge.check(registry)
    plan = build_plan(registry, choice=choice, **selection)
    samples = selection.get("samples")
    store = ResultsStore(registry_dir=str(registry_dir) if registry_dir else None)
    lake = store.lake

    def status_of(model: str, dataset: str) -> PartitionStatus:
        return partition_status(registry, lake, model, dataset, choice, samples, judge, preset=selection.get("preset"))

    statuses = [status_of(p.model, p.dataset) for p in plan.partitions]
    work: dict[str, list[PartitionStatus]] = {}
    for status in statuses:
        if status.status != "fresh":
            work.setdefault(status.model, []).append(status)
    summary: dict[str, Any] = {"partitions": len(statuses), "fresh": len(statuses) - sum(map(len, work.values())),
                               "runs": []}
    refresh = bool(work) or reports_out_of_date(lake)
    if not refresh:
        log(f"all {len(statuses)} partitions are fresh: nothing to run")
        return summary

    instance = get_instance()
    for run_id in reap_orphaned_runs(instance):
        log(f"marked run {run_id} failed: its process is gone (killed?); its pool slots are free again")
    for stray in stray_engines() if work else ():  # before an engine loads
        log(f"warning: {stray.describe()}")
    quiet = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    defs = build_definitions(store=store, engine=engine or default_engine(store, selection.get("preset")))
    new_models = [m for m in work if not instance.has_dynamic_partition(models_partitions.name, m)]
    if new_models:
        instance.add_dynamic_partitions(models_partitions.name, new_models)

    needed = {s.dataset for ss in work.values() for s in ss}
    for dataset in sorted(needed):
        verify_snapshot(lake, dataset)
    snapshots = missing_snapshots(registry, lake, needed)
    if snapshots:
        log(f"snapshotting {', '.join(snapshots)}")
        _execute(defs, SNAPSHOT_JOB, instance, summary, run_config=quiet,
                 asset_selection=[dg.AssetKey(f"dataset_{d}") for d in snapshots])

    config = {"samples": samples, **choice.as_config_fields(), "judge_model": judge.model,
              "judge_max_tokens": judge.max_tokens, "judge_rating_fallback": judge.rating_fallback,
              **({"chunk_size": chunk_size} if chunk_size else {})}
    run_config = {"ops": {op: {"config": config} for op in ("predictions", "scores")}}
    for model, planned in sorted(work.items()):
        with model_lock(model, instance, log) as waited:
            model_work = planned
            if waited:  # the other evaluation may have computed some or all of it
                rechecked = [status_of(model, s.dataset) for s in planned]
                model_work = [s for s in rechecked if s.status != "fresh"]
                if not model_work:
                    log(f"{model}: nothing left to compute after the wait (the other evaluation did it); "
                        f"no engine is loaded")
                    continue
            for s in model_work:
                log(f"{model} / {s.dataset}: {s.status} ({'; '.join(s.reasons)})")
            # the same run the sensor would ask for
            request = model_run_request(registry, model, model_work, run_key_prefix="cli", profile=choice,
                                         samples=samples)
            _execute(defs, EVALUATE_JOB, instance, summary, partition_key=model, run_config={**run_config, **quiet},
                     tags=request.tags, asset_selection=request.asset_selection)
    log("refreshing the DuckDB tables, the dbt reports and the HTML report")
    with _held_stdout(hold=log_level != "DEBUG"):
        _execute(defs, REPORTS_JOB, instance, summary, run_config=quiet)
    return summary


@contextlib.contextmanager
def model_lock(model: str, instance: dg.DagsterInstance, log: Callable[[str], Any]) -> Iterator[bool]:
    """One `llmeval evaluate` at a time evaluates a model on this results home: a second one waits here, says for
    whom, and yields True once it holds the lock (its work must be re-checked: the first may have done it). The
    lock is an flock, so a killed holder releases it with its death."""
    path = path_under(llmeval_home() / "locks", f"{model}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            began = time.monotonic()
            log(f"{model}: waiting for {_lock_holder(path, instance)}, which evaluates this model now "
                f"(lock {path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
            log(f"{model}: the other evaluation finished after {time.monotonic() - began:.0f} s")
            waited = True
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        handle.flush()
        try:
            yield waited
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_holder(path: Path, instance: dg.DagsterInstance) -> str:
    """The process holding a model lock, and its Dagster run when one has started."""
    try:
        pid, host = path.read_text().split()[:2]
    except (OSError, ValueError):
        return "another `llmeval evaluate`"
    active = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
                           tags={PID_TAG: pid, LAUNCHER_TAG: host})
    runs = [r.run_id for r in instance.get_runs(filters=active)]
    return f"another `llmeval evaluate` (pid {pid} on {host}{', run ' + runs[0] if runs else ''})"


@contextlib.contextmanager
def _held_stdout(hold: bool) -> Iterator[None]:
    """dagster-dbt echoes every dbt event (some 70 lines a build) to stdout: when `hold`, that output is kept back
    and shown only if the block raises (a failed run)."""
    if not hold:
        yield
        return
    held = io.StringIO()
    try:
        with contextlib.redirect_stdout(held):
            yield
    except BaseException:
        sys.stdout.write(held.getvalue())
        raise


def reap_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs this launcher started whose process died (SIGKILL, OOM, power loss) stay STARTED and keep their pool
    slot (pool `gpu` has one), which would block every later run. Without Dagster's daemon nobody notices, so the
    launcher marks them failed and frees their slots. Only runs of this host with a dead pid are touched."""
    reaped = []
    active = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
                           tags={LAUNCHER_TAG: socket.gethostname()})
    for run in instance.get_runs(filters=active):
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid and not _alive(pid):
            instance.report_run_failed(run, message="the launching process is gone (killed?)")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            reaped.append(run.run_id)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _execute(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, summary: dict[str, Any],
             **kwargs: Any) -> None:
    tags = {**kwargs.pop("tags", {}), LAUNCHER_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False, tags=tags,
                                                               **kwargs)
    summary["runs"].append({"job": job_name, "run_id": result.run_id, "success": result.success,
                            "partition": kwargs.get("partition_key")})
    if not result.success:
        causes, log = failure_causes(result), run_log_path(result.run_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("\n\n".join(full for _, full in causes) + "\n", encoding="utf-8")
        what = f"{job_name}{', ' + kwargs['partition_key'] if kwargs.get('partition_key') else ''}"
        raise EvaluationFailed("\n".join([
            f"Dagster run {result.run_id} ({what}) failed: " + "; ".join(line for line, _ in causes),
            f"completed samples are kept and a re-run resumes from them; full log: {log} (and `llmeval ui`, run "
            f"{result.run_id})"]))


def run_log_path(run_id: str) -> Path:
    """Where a failed run's errors are written in full (the CLI prints only their causes)."""
    return path_under(llmeval_home() / "logs", f"{run_id}.log")


def failure_causes(result: dg.ExecuteInProcessResult) -> list[tuple[str, str]]:
    """(one line, full text) per failed step: the step and the error it raised, not Dagster's wrappers around it
    (a user error reaches the run as the cause of a DagsterExecutionStepExecutionError)."""
    failures: list[tuple[str, Any]] = [(event.step_key or "run", event.step_failure_data.error)
                for event in result.get_step_failure_events() if event.step_failure_data.error]
    if not failures:
        failure = result.get_run_failure_event().job_failure_data
        failures = [("run", failure.error if failure else None)]
    causes = []
    for step, error in failures:
        if error is None:
            causes.append((f"{step}: no error recorded", f"{step}: no error recorded"))
            continue
        cause = error
        while cause.cls_name and cause.cls_name.startswith("Dagster") and cause.cause is not None:
            cause = cause.cause
        message = " ".join(cause.message.split())
        qualified, _, text = message.partition(": ")
        if qualified.endswith(cause.cls_name or "\0"):  # "package.module.Class: text" -> "Class: text"
            message = f"{cause.cls_name}: {text}"
        causes.append((f"{step}: {message[:500]}", f"step {step}:\n{error.to_string()}"))
    return causes
