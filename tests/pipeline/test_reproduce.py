"""Reproducing a published setting from the command line only: a model that is not in the registry (an ad-hoc
checkpoint directory), lm-evaluation-harness's settings (the `lm_eval` profile), float32, the first N items, as one
Dagster run on the project's instance with a real vLLM engine (the tiny random Llama on CPU), through the real
`llmeval` console script. The tests build on each other's state, in file order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import jsonschema
import pytest

from llmeval_assets.instance import get_instance
from llmeval_assets.paths import PROJECT_ROOT
from llmeval_assets.registry import load_registry

pytestmark = pytest.mark.vllm
CLI = str(Path(sys.executable).with_name("llmeval"))
RUN = ["--dataset", "arc_challenge", "--profile", "lm_eval", "--dtype", "float32", "--limit", "4"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint_2k: Path):
    root = tmp_path_factory.mktemp("reproduce")
    checkpoint = root / "my-checkpoint"
    checkpoint.symlink_to(tiny_checkpoint_2k, target_is_directory=True)
    variables = {"LLMEVAL_HOME": str(root / "home"), "DAGSTER_HOME": str(root / "home" / "dagster"),
                 "LLMEVAL_DATASETS_CACHE": str(root / "datasets"), "LLMEVAL_DEVICE": "cpu"}
    patch = pytest.MonkeyPatch()
    for name, value in variables.items():
        patch.setenv(name, value)
    yield {"checkpoint": checkpoint, "env": {**os.environ, **variables}}
    patch.undo()


def llmeval(env, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env["env"], timeout=timeout, check=False)


def test_plan_shows_an_ad_hoc_checkpoint_without_recording_it(env):
    result = llmeval(env, "plan", "--model", str(env["checkpoint"]), *RUN, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    (partition,) = plan["partitions"]
    assert (partition["model"], partition["variant"], partition["samples"]) == ("local_my_checkpoint", "0shot", 4)
    assert partition["profile_label"] == "lm_eval with dtype=float32, limit=4"
    (model,) = plan["models"]
    assert model["fits"] and model["weights_gb"] < 1
    assert not (Path(env["env"]["LLMEVAL_HOME"]) / "adhoc_models.yaml").exists()


def test_an_ad_hoc_checkpoint_is_evaluated_through_the_dagster_pipeline(env):
    result = llmeval(env, "evaluate", "--model", str(env["checkpoint"]), *RUN)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = get_instance().get_runs(filters=dg.RunsFilter(job_name="evaluate_model"))
    assert [r.tags["dagster/partition"] for r in runs] == ["local_my_checkpoint"]
    registry = load_registry()  # the ad-hoc model is known from now on, without a registry edit
    entry = registry.models["local_my_checkpoint"]
    assert entry.local_path == str(env["checkpoint"]) and entry.notes[0].startswith("evaluated ad hoc")
    # progress lines, not silence, when the output is not a terminal
    assert "local_my_checkpoint / arc_challenge: 4/4" in result.stdout


def test_the_same_command_again_finds_it_fresh_and_writes_the_output_files(env, tmp_path):
    result = llmeval(env, "evaluate", "--model", str(env["checkpoint"]), *RUN, "--output-path", str(tmp_path),
                     timeout=120)
    assert result.returncode == 0, result.stderr
    assert "all 1 partitions are fresh: nothing to run" in " ".join(result.stdout.split())
    payload = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(payload, json.loads((PROJECT_ROOT / "docs" / "results.schema.json").read_text()))
    (entry,) = payload["results"]
    assert (entry["model"], entry["profile_label"], entry["variant"]) == ("local_my_checkpoint",
                                                                        "lm_eval with dtype=float32, limit=4", "0shot")
    assert entry["identity"]["engine_fingerprint"]["dtype"] == "float32" and entry["metrics"]["acc_norm"]["n"] == 4
    (run,) = payload["runs"]  # the Dagster run that computed it, with its timings and engine arguments
    assert run["run_id"] == entry["run_id"] and run["backend"] == "vllm" and run["engine_args"]["dtype"] == "float32"
    assert 0 < run["engine_load_s"] <= run["wall_s"] and run["samples"] == 4
    lines = (tmp_path / entry["samples_file"]).read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["requests"] for line in lines)


def test_samples_finds_the_overridden_runs_result_by_the_same_options(env):
    result = llmeval(env, "samples", "--model", str(env["checkpoint"]), *RUN, "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["result"]["profile_label"] == "lm_eval with dtype=float32, limit=4"
    assert len(payload["samples"]) == 4 and all(len(s["logprobs"]) == len(s["requests"]) for s in payload["samples"])
    plain = llmeval(env, "samples", "--model", str(env["checkpoint"]), "--dataset", "arc_challenge", timeout=120)
    assert plain.returncode == 1 and "stored under: lm_eval~" in plain.stderr


def test_model_args_are_checked(env):
    result = llmeval(env, "plan", "--model", str(env["checkpoint"]), *RUN, "--model-args",
                     "tensor_parallel_size=3", timeout=120)
    assert result.returncode == 1
    assert "--model/--model-args: local_my_checkpoint.tensor_parallel_size: 3 is not a power of two" in result.stderr
    unknown = llmeval(env, "plan", "--model", str(env["checkpoint"]), *RUN, "--model-args", "tp=2", timeout=120)
    assert unknown.returncode == 2 and "--model-args: unknown key 'tp'" in unknown.stderr
    registry_model = llmeval(env, "plan", "--model", "smollm2_135m", *RUN, "--model-args", "dtype=float32")
    assert registry_model.returncode == 2 and "--model-args applies to --model hf:ORG/NAME" in registry_model.stderr


def test_a_hub_reference_needs_its_facts_when_the_hub_is_unreachable(env):
    result = llmeval(env, "plan", "--model", "hf:some-org/some-model@abc123", *RUN, timeout=120)
    assert result.returncode == 2
    assert "the parameter count is unknown here" in result.stderr and "--model-args params_b=" in result.stderr
    given = llmeval(env, "plan", "--model", "hf:some-org/some-model@abc123", *RUN, "--model-args",
                    "params_b=7.2,context_window=8192,instruct=false", "--json", "--no-status", timeout=120)
    assert given.returncode == 0, given.stderr
    (model,) = json.loads(given.stdout)["models"]
    assert (model["key"], model["hf_id"], model["tensor_parallel_size"]) == ("hf_some_org_some_model",
                                                                            "some-org/some-model", 1)
