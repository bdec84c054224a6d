"""What Dagster starts by itself: the registry sensor on a real Dagster instance (sqlite, under a temporary
DAGSTER_HOME), real offline snapshots and a real results lake. No engine runs, so no vLLM: the model checkpoints
are a labelled fixture (a directory with a config.json, all the availability check looks at). The hub is not
reachable here (and a CI machine that reaches it finds no such repo): either way the hub model is blocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from llmeval_assets.defs.build import build_definitions
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.instance import get_instance
from llmeval_assets.registry import load_registry
from llmeval_assets.snapshots import build_snapshot
from tests.pipeline.conftest import CATEGORY, DATASETS, SHIPPED, model_entry, write_registry

FIXTURE_CHECKPOINT_NOTE = "fixture: a config.json only, never loaded"
SAMPLES = 3


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLMEVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv("LLMEVAL_DEVICE", "cpu")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    checkpoint = tmp_path / "fixture_checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"note": FIXTURE_CHECKPOINT_NOTE}))
    root = write_registry(tmp_path / "registry", checkpoint, ["tiny_a"])
    (root / "automation.yaml").write_text(yaml.safe_dump({"automation": {"samples": SAMPLES}}))
    monkeypatch.setenv("LLMEVAL_REGISTRY", str(root))
    lake = ResultsStore(home=str(tmp_path / "home")).lake
    for dataset in DATASETS:  # the model runs read them; without them the sensor asks for a snapshot run first
        build_snapshot(load_registry(root), dataset, lake, "offline")
    return root, checkpoint


class Sensor:
    """registry_sensor ticks as the daemon evaluates them: each tick gets the cursor the previous one stored."""

    def __init__(self, registry_dir: Path) -> None:
        self.store = ResultsStore(registry_dir=str(registry_dir))
        self.instance = get_instance()
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        defs = build_definitions(store=self.store)
        sensor = defs.resolve_sensor_def("registry_sensor")
        context = dg.build_sensor_context(instance=self.instance, definitions=defs, cursor=self.cursor,
                                          resources={"store": self.store})
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        for event in result.asset_events or []:  # what the daemon does with a tick's result
            self.instance.report_runless_asset_event(event)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result


def edit_yaml(path: Path, edit) -> None:
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def add_model(root: Path, key: str, entry: dict) -> None:
    edit_yaml(root / "models.yaml", lambda d: d["models"].__setitem__(key, entry))
    edit_yaml(root / "categories.yaml", lambda d: d["categories"][CATEGORY]["models"].append(key))


def test_first_start_on_the_shipped_registry_schedules_nothing_and_says_what_is_stale(tmp_path, monkeypatch):
    """What `make ui` after `make demo` meets: every model of the shipped registry, none evaluated (or the demo's
    one): the first tick is the baseline."""
    monkeypatch.setenv("LLMEVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    sensor = Sensor(SHIPPED)
    first = sensor.tick()
    assert first.run_requests == []
    assert first.skip_reason is not None
    assert first.skip_reason.skip_message.startswith("baseline taken (")
    assert "not scheduled" in first.skip_reason.skip_message and "llmeval evaluate" in first.skip_reason.skip_message
    registered = set(sensor.instance.get_dynamic_partitions("models"))
    assert "smollm2_135m" in registered and "llama31_70b" in registered  # the UI shows them, unmaterialized
    second = sensor.tick()
    assert second.run_requests == []
    assert second.skip_reason.skip_message == "no model added or changed since the last tick"


def test_adding_a_model_schedules_exactly_its_pairs_with_the_registry_sample_count(env):
    root, checkpoint = env
    sensor = Sensor(root)
    assert sensor.tick().run_requests == []  # baseline: tiny_a is missing everything, and is not scheduled
    add_model(root, "tiny_b", model_entry(checkpoint, "tiny_b"))
    result = sensor.tick()
    [request] = result.run_requests
    assert request.partition_key == "tiny_b"
    assert {k.to_user_string() for k in request.asset_selection} == {
        "model_weights", *(f"predictions_{d}" for d in DATASETS), *(f"scores_{d}" for d in DATASETS)}
    assert request.tags["llmeval/samples"] == str(SAMPLES)
    assert request.run_config["ops"]["predictions"]["config"]["samples"] == SAMPLES
    assert sensor.tick().run_requests == []  # acted on: not requested again
    # changing a model's entry counts as a change of that model only
    edit_yaml(root / "models.yaml", lambda d: d["models"]["tiny_a"].__setitem__("max_model_len", 1024))
    [changed] = sensor.tick().run_requests
    assert changed.partition_key == "tiny_a"


def test_the_sensor_description_shows_the_sample_count_before_anything_runs(env):
    root, _ = env
    sensor_def = build_definitions(store=ResultsStore(registry_dir=str(root))).resolve_sensor_def("registry_sensor")
    assert f"with {SAMPLES} samples per pair (registry/automation.yaml)" in sensor_def.description


def test_an_unreachable_or_gated_model_is_reported_as_blocked_and_not_launched(env):
    root, _ = env
    sensor = Sensor(root)
    sensor.tick()
    hub_only = {**model_entry(Path("unused"), "remote"), "local_path": None,
                "hf_id": "llmeval-fixtures/no-such-model"}
    add_model(root, "remote_model", hub_only)
    add_model(root, "gated_model", {**hub_only, "hf_id": "llmeval-fixtures/gated-model", "gated": True})
    result = sensor.tick()
    assert result.run_requests == []
    message = result.skip_reason.skip_message
    assert "gated_model: blocked (gated): llmeval-fixtures/gated-model is gated: accept the licence" in message
    assert "HF_TOKEN" in message
    assert "remote_model: blocked (" in message  # unknown (hub unreachable) here; not_found where it is reachable
    observed = {e.partition: e.metadata for e in result.asset_events}
    assert set(observed) == {"gated_model", "remote_model"}
    assert observed["gated_model"]["status"].value == "blocked"
    [stored] = sensor.instance.fetch_observations(dg.AssetKey("model_weights"), limit=10).records[:1]
    assert stored.asset_observation.metadata["status"].value == "blocked"  # the asset's page shows it
    # still blocked on the next tick: reported again, not launched, and not observed twice
    again = sensor.tick()
    assert again.run_requests == [] and again.asset_events == []
    assert "gated_model: blocked" in again.skip_reason.skip_message


def test_plan_shows_a_blocked_model_with_the_reason(env):
    root, _ = env
    add_model(root, "gated_model", {**model_entry(Path("unused"), "gated"), "local_path": None,
                                    "hf_id": "llmeval-fixtures/gated-model", "gated": True})
    cli = str(Path(sys.executable).with_name("llmeval"))
    run = subprocess.run([cli, "plan", "--registry", str(root), "--category", CATEGORY], check=False,
                         capture_output=True, text=True, env=os.environ.copy())
    assert run.returncode == 0, run.stderr
    warning = "warning: gated_model: blocked (gated): llmeval-fixtures/gated-model is gated: accept the licence"
    assert warning in " ".join(run.stderr.split())
    as_json = subprocess.run([cli, "plan", "--registry", str(root), "--category", CATEGORY, "--json"],
                             capture_output=True, text=True, env=os.environ.copy(), check=True)
    models = {m["key"]: m for m in yaml.safe_load(as_json.stdout)["models"]}
    assert models["gated_model"]["blocked"].startswith("blocked (gated): ")
    assert "blocked" not in models["tiny_a"]
