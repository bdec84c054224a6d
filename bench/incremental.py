"""Incremental evaluation at the seed system's scale (58 models, 11 categories): how much work adding one model
plans, and how long a re-run with nothing changed takes.

Every valid (model, dataset) pair of the shipped registry is first recorded as evaluated (fabricated scores in a
temporary results lake: no model runs, only the bookkeeping the planner reads). Then:
  1. the registry sensor takes its baseline (first tick: nothing scheduled), one model is added to the registry,
     and the next tick is evaluated: it must request runs for exactly that model's valid pairs (its weights are a
     labelled fixture, a local config.json: a hub model would be blocked on a machine without hub access);
  2. once the reports hold the recorded results, `llmeval evaluate` is run for every category with nothing
     changed, then for one: it must launch nothing.

Usage: .venv/bin/python bench/incremental.py        (prints figures; the last line is the summary)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def record_everything_as_evaluated(registry, lake) -> int:
    """Record every valid pair as evaluated with the identity a run would compute now (real offline snapshots,
    the engine fingerprint this machine would load, a fabricated weights revision and tokenizer fingerprint)."""
    from llmeval_assets.evaluation import (
        EngineContext,
        evaluation_identity,
        evaluation_summary,
        expected_engine_fingerprint,
        resolve_evaluation,
        select_items,
        wanted_samples,
    )
    from llmeval_assets.snapshots import build_snapshot, current_items
    from llmeval_assets.storage.lake import PartitionState

    pairs = [p for p in registry.pairs() if registry.datasets[p.dataset].supported]
    tokenizer = {"chat_template_sha256": "bench"}
    for dataset in sorted({p.dataset for p in pairs}):
        build_snapshot(registry, dataset, lake, "offline")
    for model in {p.model for p in pairs}:
        lake.set_weights(model, {"model": model, "revision": registry.models[model].revision or "rev-1",
                                 "tokenizer": tokenizer})
    context = EngineContext.installed()
    for pair in pairs:
        evaluation = resolve_evaluation(registry, pair.model, pair.dataset)
        items, version = current_items(lake, pair.dataset)
        chosen, pool = select_items(items, wanted_samples(registry, evaluation, None, None), evaluation)
        identity = evaluation_identity(
            evaluation, items=items, chosen=chosen, fewshot=pool,
            weights_revision=registry.models[pair.model].revision or "rev-1", dataset_version=version,
            tokenizer=tokenizer, engine=expected_engine_fingerprint(registry, evaluation, context))
        state = PartitionState.of(identity, evaluation=evaluation_summary(evaluation), run_id="bench",
                                  materialized_at=datetime.now(UTC))
        lake.write_scores(identity, [], [], evaluation.primary_metric, state)
    return len(pairs)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="llmeval-bench-incremental-"))
    os.environ.update(LLMEVAL_HOME=str(work / "home"), DAGSTER_HOME=str(work / "dagster"),
                      LLMEVAL_DATASETS_CACHE=str(work / "datasets"))
    registry_dir = work / "registry"
    shutil.copytree(ROOT / "registry", registry_dir)

    import dagster as dg

    from llmeval_assets.defs.build import build_definitions
    from llmeval_assets.defs.resources import ResultsStore
    from llmeval_assets.instance import get_instance
    from llmeval_assets.registry import load_registry

    registry = load_registry(registry_dir)
    store = ResultsStore(registry_dir=str(registry_dir))
    recorded = record_everything_as_evaluated(registry, store.lake)
    instance = get_instance()
    instance.add_dynamic_partitions("models", sorted({p.model for p in registry.pairs()}))
    print(f"registry: {len(registry.models)} models, {len(registry.categories)} categories; "
          f"{recorded} valid (model, dataset) pairs recorded as evaluated")

    defs = build_definitions(store=store)
    sensor = defs.resolve_sensor_def("registry_sensor")
    baseline = sensor(dg.build_sensor_context(instance=instance, definitions=defs, resources={"store": store}))
    assert not baseline.run_requests, "the sensor's first tick must only take a baseline"

    # 1. add one model, as a user would: a models.yaml entry and a category membership
    fixture_weights = work / "fixture_checkpoint"  # fixture: only the config.json the availability check reads
    fixture_weights.mkdir()
    (fixture_weights / "config.json").write_text("{}")
    models = yaml.safe_load((registry_dir / "models.yaml").read_text())
    models["models"]["new_model_8b"] = {**models["models"]["llama31_8b"], "display_name": "New model 8B",
                                        "aliases": [], "local_path": str(fixture_weights)}
    (registry_dir / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    categories = yaml.safe_load((registry_dir / "categories.yaml").read_text())
    categories["categories"]["general_purpose"]["models"].append("new_model_8b")
    (registry_dir / "categories.yaml").write_text(yaml.safe_dump(categories, sort_keys=False))
    grown = load_registry(registry_dir)
    expected = sorted(p.dataset for p in grown.pairs() if p.model == "new_model_8b"
                      and grown.datasets[p.dataset].supported)

    defs = build_definitions(store=store)
    sensor = defs.resolve_sensor_def("registry_sensor")
    began = time.perf_counter()
    result = sensor(dg.build_sensor_context(instance=instance, definitions=defs, cursor=baseline.cursor,
                                            resources={"store": store}))
    tick_s = time.perf_counter() - began
    planned = {r.partition_key: sorted(k.path[-1].removeprefix("predictions_") for k in r.asset_selection
                                       if k.path[-1].startswith("predictions_")) for r in result.run_requests}
    partitions_planned = sum(len(v) for v in planned.values())
    print(f"after adding new_model_8b: the sensor tick took {tick_s:.2f}s and requested {len(planned)} run(s): "
          f"{planned}")
    assert planned == {"new_model_8b": expected}, f"expected only new_model_8b's pairs {expected}"

    # 2. a re-run with nothing changed (the new model removed again), through the real CLI: every category and
    #    model at once, then one category as a user would
    shutil.copy(ROOT / "registry" / "models.yaml", registry_dir / "models.yaml")
    shutil.copy(ROOT / "registry" / "categories.yaml", registry_dir / "categories.yaml")
    cli = [str(Path(sys.executable).with_name("llmeval")), "evaluate", "--registry", str(registry_dir)]
    # the recorded results are not yet in the reports: the first run only refreshes them (DuckDB, dbt)
    out = subprocess.run([*cli, "--all", "--include-optional"], capture_output=True, text=True, check=True).stdout
    assert "refreshing the DuckDB tables" in out and "Dagster run" not in out, out
    began = time.perf_counter()
    out = subprocess.run([*cli, "--all", "--include-optional"], capture_output=True, text=True, check=True).stdout
    rerun_s = time.perf_counter() - began
    assert f"all {recorded} partitions are fresh: nothing to run" in " ".join(out.split()), out
    began = time.perf_counter()
    out = subprocess.run([*cli, "--category", "general_purpose"], capture_output=True, text=True, check=True).stdout
    category_s = time.perf_counter() - began
    assert "nothing to run" in out, out
    print(f"no-change re-run: `llmeval evaluate --all --include-optional` ({recorded} pairs) took {rerun_s:.1f}s; "
          f"`llmeval evaluate --category general_purpose` took {category_s:.1f}s; both launched nothing")
    shutil.rmtree(work, ignore_errors=True)
    print(f"partitions_planned_after_adding_one_model={partitions_planned} (its valid pairs: {len(expected)}) "
          f"sensor_tick_s={tick_s:.2f} no_change_rerun_s={rerun_s:.1f}")


if __name__ == "__main__":
    main()
