"""EngineResource in real Dagster runs with real vLLM engines (CPU): one load per model per run, the previous
model's engine shut down before the next loads, teardown at the end of the run, unknown model keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from llmeval_assets.engine.requests import GenerateRequest, Sampling
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.registry import UnknownModelError, default_registry_dir

from .conftest import alive, engine_core_pid

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint) -> Path:
    """The project's registry plus two tiny models (tiny_a, alias tiny-a; tiny_b) on the tiny checkpoint."""
    root = tmp_path_factory.mktemp("registry")
    for source in default_registry_dir().glob("*.yaml"):
        shutil.copy(source, root)
    models = yaml.safe_load((root / "models.yaml").read_text())
    for key, aliases in (("tiny_a", ["tiny-a"]), ("tiny_b", [])):
        models["models"][key] = {
            "display_name": key, "hf_id": None, "local_path": str(tiny_checkpoint.path), "kind": "decoder",
            "params_b": 0.007, "dtype": "float32", "license": "Apache-2.0", "context_window": 256,
            "max_model_len": 256, "instruct": False, "aliases": aliases,
        }  # fmt: skip
    (root / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    return root


def cpu_resource(registry: Path) -> EngineResource:
    return EngineResource(registry_dir=str(registry), device="cpu", cpu_memory_fraction=0.1)


def test_one_load_per_model_per_run_and_model_switch_closes_the_previous(tiny_registry):
    """One run: three datasets of tiny_a (one asks by alias) load it once; then tiny_b loads after tiny_a's
    engine was shut down; the run's teardown shuts tiny_b's down."""
    seen: dict[str, object] = {}

    def dataset_asset(name: str, model: str):
        @dg.asset(name=name)
        def evaluate(engine: EngineResource) -> None:
            inference = engine.get_engine(model)
            (result,) = inference.generate([GenerateRequest(name, Sampling(max_tokens=3), prompt="Hello")])
            assert result.error is None
            seen.setdefault(f"{engine.current_model}_pid", engine_core_pid(inference))

        return evaluate

    @dg.asset(deps=["gsm8k", "mmlu", "hellaswag"])
    def other_model(engine: EngineResource) -> None:
        inference = engine.get_engine("tiny_b")
        seen["tiny_a_alive_when_tiny_b_loaded"] = alive(seen["tiny_a_pid"])
        seen["tiny_b_pid"] = engine_core_pid(inference)

    before = EngineResource.constructions.copy()
    result = dg.materialize(
        [dataset_asset("gsm8k", "tiny_a"), dataset_asset("mmlu", "tiny-a"), dataset_asset("hellaswag", "tiny_a"),
         other_model],
        resources={"engine": cpu_resource(tiny_registry)},
    )  # fmt: skip
    assert result.success
    constructed = EngineResource.constructions - before
    assert constructed == {"tiny_a": 1, "tiny_b": 1}
    assert seen["tiny_a_alive_when_tiny_b_loaded"] is False
    assert not alive(seen["tiny_b_pid"])  # teardown_after_execution closed the last engine


def test_unknown_model_key_names_close_matches(tiny_registry):
    resource = cpu_resource(tiny_registry)
    with pytest.raises(UnknownModelError, match=r"unknown model 'tiny_c'.*tiny_a"):
        resource.get_engine("tiny_c")
    assert resource.current_model is None


def test_cpu_device_settings(tiny_registry):
    from llmeval_assets.registry import load_registry

    registry = load_registry(tiny_registry)
    settings = cpu_resource(tiny_registry).engine_settings(registry.engine_settings("smollm2_135m"))
    assert settings.gpu_memory_utilization == 0.1 and settings.enforce_eager
    assert EngineResource(dtype="bfloat16").engine_settings(settings).dtype == "bfloat16"
