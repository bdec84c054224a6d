"""A small registry around a tiny random Llama (real vLLM engine on CPU), a private Dagster instance, results lake
and DuckDB file per test module."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from llmeval_assets.registry import Registry, load_registry

SHIPPED = Path(__file__).resolve().parents[2] / "registry"
CATEGORY = "smoke"
DATASETS = ["arc_challenge", "hellaswag", "humaneval"]


def model_entry(checkpoint: Path, name: str) -> dict:
    return {"display_name": name, "hf_id": None, "local_path": str(checkpoint), "kind": "decoder", "params_b": 0.02,
            "dtype": "float32", "license": "Apache-2.0", "context_window": 2048, "max_model_len": 2048,
            "instruct": False}


def write_registry(root: Path, checkpoint: Path, members: list[str], extra_models: list[str] = ()) -> Path:
    """The shipped datasets/presets/hardware with a one-category registry of tiny models."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("datasets.yaml", "presets.yaml", "hardware.yaml", "profiles.yaml"):
        shutil.copy(SHIPPED / name, root / name)
    models = {key: model_entry(checkpoint, key) for key in [*members, *extra_models]}
    (root / "models.yaml").write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    category = {"description": "tiny models on three quick datasets", "models": members,
                "primary_datasets": DATASETS,
                "settings": {"sample_limit": 4, "max_tokens": 24, "temperature": 0.0, "timeout_s": 10}}
    (root / "categories.yaml").write_text(yaml.safe_dump({"categories": {CATEGORY: category}}, sort_keys=False))
    return root


@dataclass
class PipelineEnv:
    registry_dir: Path
    home: Path
    checkpoint: Path

    def registry(self) -> Registry:
        return load_registry(self.registry_dir)


@pytest.fixture(scope="module")
def pipeline_env(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint_2k) -> PipelineEnv:
    root = tmp_path_factory.mktemp("pipeline")
    env = PipelineEnv(registry_dir=write_registry(root / "registry", tiny_checkpoint_2k, ["tiny_a"]),
                      home=root / "home", checkpoint=tiny_checkpoint_2k)
    patch = pytest.MonkeyPatch()
    patch.setenv("LLMEVAL_HOME", str(env.home))
    patch.setenv("DAGSTER_HOME", str(env.home / "dagster"))
    patch.setenv("LLMEVAL_REGISTRY", str(env.registry_dir))
    patch.setenv("LLMEVAL_DEVICE", "cpu")
    yield env
    patch.undo()
