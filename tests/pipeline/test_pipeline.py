"""The pipeline end to end on a real Dagster instance, a real vLLM engine (tiny random Llama on CPU), a real results
lake, DuckDB file and dbt run. The tests in this module build on each other's state, in file order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from llmeval_assets.benchmarks.base import get_benchmark
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.instance import get_instance
from llmeval_assets.launch import launch_evaluation
from llmeval_assets.paths import results_db_path
from llmeval_assets.reporting import leaderboard_rows
from tests.pipeline.conftest import CATEGORY, DATASETS, write_registry

pytestmark = pytest.mark.vllm


def evaluate_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name="evaluate_model")))


def partition_run_ids(env, model: str) -> dict[str, str]:
    lake = ResultsStore(home=str(env.home)).lake
    return {d: lake.partition_state(model, d, "default").run_id for d in DATASETS}


def test_one_model_three_datasets_is_one_run_and_one_engine_load(pipeline_env):
    EngineResource.constructions.clear()
    summary = launch_evaluation(pipeline_env.registry(), registry_dir=pipeline_env.registry_dir, model="tiny_a")
    jobs = [r["job"] for r in summary["runs"]]
    assert jobs == ["snapshot_datasets", "evaluate_model", "refresh_reports"]
    assert all(r["success"] for r in summary["runs"])
    assert EngineResource.constructions == {"tiny_a": 1}
    [run] = evaluate_runs(get_instance())
    assert run.tags["dagster/partition"] == "tiny_a"
    # every partition is in DuckDB, with standard errors, and the dbt leaderboard was built from it
    rows = leaderboard_rows(path=results_db_path())
    assert {(r["model"], r["dataset"]) for r in rows if r["is_primary"]} == {("tiny_a", d) for d in DATASETS}
    assert all(r["n"] == 4 and r["stderr"] is not None for r in rows if r["is_primary"])
    with duckdb.connect(str(results_db_path()), read_only=True) as con:
        assert con.execute("select count(*) from reports.leaderboard").fetchone()[0] == 3
        assert con.execute("select count(*) from evals.predictions").fetchone()[0] == 12
        [(engine_load_s, datasets)] = con.execute("select engine_load_s, datasets from evals.runs").fetchall()
        assert engine_load_s > 0 and sorted(datasets) == sorted(DATASETS)


def test_running_again_launches_nothing(pipeline_env):
    instance = get_instance()
    before = len(evaluate_runs(instance))
    summary = launch_evaluation(pipeline_env.registry(), registry_dir=pipeline_env.registry_dir, model="tiny_a")
    assert summary["runs"] == [] and summary["fresh"] == 3
    assert len(evaluate_runs(instance)) == before
    assert EngineResource.constructions == {"tiny_a": 1}


def test_changing_one_prompt_reruns_only_that_dataset(pipeline_env, monkeypatch):
    before = partition_run_ids(pipeline_env, "tiny_a")
    hellaswag = get_benchmark("hellaswag")
    monkeypatch.setattr(hellaswag, "version", hellaswag.version + "-edited-prompt")
    launch_evaluation(pipeline_env.registry(), registry_dir=pipeline_env.registry_dir, model="tiny_a")
    after = partition_run_ids(pipeline_env, "tiny_a")
    assert after["arc_challenge"] == before["arc_challenge"]
    assert after["humaneval"] == before["humaneval"]
    assert after["hellaswag"] != before["hellaswag"]
    latest = evaluate_runs(get_instance())[0]
    assert {k.to_user_string() for k in latest.asset_selection} == {
        "model_weights", "predictions_hellaswag", "scores_hellaswag"}


def test_adding_a_model_requests_runs_for_exactly_its_valid_pairs(pipeline_env, tmp_path):
    from llmeval_assets.defs.build import build_definitions

    def tick(registry_dir: Path, cursor: str | None) -> dg.SensorResult:
        store = ResultsStore(home=str(pipeline_env.home), registry_dir=str(registry_dir))
        defs = build_definitions(store=store)
        sensor = defs.resolve_sensor_def("registry_sensor")
        return sensor(dg.build_sensor_context(instance=get_instance(), definitions=defs, cursor=cursor,
                                              resources={"store": store}))

    baseline = tick(pipeline_env.registry_dir, None)
    # tiny_a's hellaswag result is stale (the previous test's prompt edit was undone), but tiny_a is unchanged in
    # the registry: the baseline lists it and schedules nothing
    assert baseline.run_requests == [] and "1 stale or missing pair(s) of 1 model(s)" in \
        baseline.skip_reason.skip_message
    grown = write_registry(tmp_path / "registry", pipeline_env.checkpoint, ["tiny_a", "tiny_b"],
                           extra_models=["tiny_unplaced"])
    result = tick(grown, baseline.cursor)
    [add] = result.dynamic_partitions_requests
    assert sorted(add.partition_keys) == ["tiny_b"]  # tiny_a is known; tiny_unplaced has no valid pair
    [request] = result.run_requests
    assert request.partition_key == "tiny_b"
    assert {k.to_user_string() for k in request.asset_selection} == {
        "model_weights", *(f"predictions_{d}" for d in DATASETS), *(f"scores_{d}" for d in DATASETS)}
    assert request.job_name == "evaluate_model"
    assert request.tags["gpu"] == "1"


def test_sigkill_mid_run_loses_no_completed_sample(pipeline_env):
    """Kill the evaluating process with SIGKILL after some chunks are stored; a re-run keeps them intact and
    computes only what was not stored."""
    env = {**os.environ, "LLMEVAL_HOME": str(pipeline_env.home), "LLMEVAL_REGISTRY": str(pipeline_env.registry_dir)}
    samples = 24
    command = [str(Path(sys.executable).with_name("llmeval")), "evaluate", "--model", "tiny_a", "--dataset",
               "humaneval", "--samples", str(samples), "--chunk-size", "2"]
    spec_dir_root = pipeline_env.home / "lake" / "predictions" / "dataset=humaneval" / "model=tiny_a"
    before = set(spec_dir_root.rglob("part-*.parquet"))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while len(set(spec_dir_root.rglob("part-*.parquet")) - before) < 3:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no chunk stored in time"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed_run_rows = [row for path in set(spec_dir_root.rglob("part-*.parquet")) - before
                       for row in pq.read_table(path).to_pylist()]  # every stored chunk is readable
    assert killed_run_rows

    launch_evaluation(pipeline_env.registry(), registry_dir=pipeline_env.registry_dir, model="tiny_a",
                      dataset="humaneval", samples=samples)
    lake = ResultsStore(home=str(pipeline_env.home)).lake
    state = lake.partition_state("tiny_a", "humaneval", "default")
    rows = [row for path in spec_dir_root.rglob("part-*.parquet") for row in pq.read_table(path).to_pylist()]
    rerun_rows = [r for r in rows if r["run_id"] == state.run_id]
    killed_ids = {r["item_id"] for r in killed_run_rows}
    assert state.samples == samples
    assert not killed_ids & {r["item_id"] for r in rerun_rows}  # nothing stored was computed again
    assert len({r["item_id"] for r in rows}) >= samples


def test_plan_shows_fresh_stale_and_missing(pipeline_env, tmp_path):
    cli = str(Path(sys.executable).with_name("llmeval"))

    def plan(home: Path, samples: int) -> dict[str, dict]:
        out = subprocess.run([cli, "plan", "--registry", str(pipeline_env.registry_dir), "--category", CATEGORY,
                              "--samples", str(samples), "--json"], capture_output=True, text=True, check=True,
                             env={**os.environ, "LLMEVAL_HOME": str(home)}).stdout
        return {p["dataset"]: p for p in yaml.safe_load(out)["partitions"]}

    now = plan(pipeline_env.home, 4)
    assert {d: p["status"] for d, p in now.items()} == {
        "arc_challenge": "fresh", "humaneval": "fresh",
        "hellaswag": "stale"}  # computed with the edited prompt of an earlier test, which was undone since
    [reason] = now["hellaswag"]["reasons"]
    assert reason.startswith("spec changed (") and reason.endswith("settings or chat template")
    more = plan(pipeline_env.home, 6)
    assert more["arc_challenge"]["reasons"] == ["4 samples stored, 6 requested"]
    empty = plan(tmp_path / "elsewhere", 4)
    assert {p["status"] for p in empty.values()} == {"missing"}


def test_a_second_concurrent_evaluation_says_it_waits_and_loads_no_engine_for_work_done_meanwhile(pipeline_env):
    """Two `llmeval evaluate` of the same work at once: the second waits for the first (and says for whom), then
    finds nothing left and starts no run (so no engine); no row is lost or stored twice."""
    env = {**os.environ, "LLMEVAL_HOME": str(pipeline_env.home), "LLMEVAL_REGISTRY": str(pipeline_env.registry_dir)}
    command = [str(Path(sys.executable).with_name("llmeval")), "evaluate", "--model", "tiny_a", "--dataset",
               "arc_challenge", "--samples", "8"]  # 4 stored: 4 more to compute
    instance = get_instance()
    runs_before = len(evaluate_runs(instance))
    lock = pipeline_env.home / "locks" / "tiny_a.lock"
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (lock.is_file() and lock.read_text().startswith(f"{first.pid} ")):
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "the first evaluation never took the model's lock"
        time.sleep(0.1)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    first_out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, first_out
    assert second.returncode == 0, second.stdout + second.stderr
    out = " ".join(second.stdout.split())
    assert f"tiny_a: waiting for another `llmeval evaluate` (pid {first.pid} on " in out, out
    assert "tiny_a: nothing left to compute after the wait (the other evaluation did it); no engine is loaded" in out
    assert "waiting" not in first_out
    assert len(evaluate_runs(instance)) == runs_before + 1  # the first's run only: the second loaded no engine
    lake = ResultsStore(home=str(pipeline_env.home)).lake
    stored = lake.stored_predictions("tiny_a", "arc_challenge", "default")
    assert lake.partition_state("tiny_a", "arc_challenge", "default").samples == 8
    assert len(stored) >= 8 and all(len(rows) == 1 for rows in stored.values())  # none computed twice
