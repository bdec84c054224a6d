"""The registry commands of the real `llmeval` console script, run as subprocesses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

SHIPPED = Path(__file__).resolve().parents[2] / "registry"
LLMEVAL = str(Path(sys.executable).with_name("llmeval"))
SEED_CATEGORIES = ["coding_specialists", "mathematical_reasoning", "biomedical_specialists", "multimodal_processing",
                   "scientific_research", "efficiency_optimized", "general_purpose", "safety_alignment",
                   "mixture_of_experts", "reasoning_specialized", "text_geospatial"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LLMEVAL, *args], capture_output=True, text=True, timeout=60)


def run_json(*args: str):
    proc = run(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_categories_json_lists_the_eleven_seed_categories():
    rows = run_json("categories")
    assert [r["name"] for r in rows] == SEED_CATEGORIES
    for r in rows:
        assert {"name", "models", "primary_datasets", "optional_datasets"} <= set(r)
    moe = next(r for r in rows if r["name"] == "mixture_of_experts")
    assert "humaneval" in moe["primary_datasets"]


def test_models_json_lists_every_seed_key_with_required_fields():
    rows = run_json("models")
    keys = {r["key"] for r in rows}
    seed_keys = set(yaml.safe_load((SHIPPED / "models.yaml").read_text())["models"])
    assert keys == seed_keys and len(keys) == 58
    required = {"key", "hf_id", "kind", "params_b", "categories", "tensor_parallel_size", "min_gpus",
                "gpu_memory_utilization", "max_model_len", "aliases"}
    assert all(required <= set(r) for r in rows)
    by_key = {r["key"]: r for r in rows}
    assert by_key["qwen3_8b"]["aliases"] == ["qwen_8b", "qwen2.5_8b"]
    assert by_key["qwen3_8b"]["hf_id"] == "Qwen/Qwen2.5-7B-Instruct"
    assert by_key["qwen25_7b"]["categories"] == ["mathematical_reasoning", "safety_alignment", "text_geospatial"]
    assert by_key["bio_clinicalbert"]["removed_from"] == {
        "biomedical_specialists": "BERT encoder (Bio_ClinicalBERT): cannot generate answers or score continuations"}
    assert by_key["llama31_70b"]["min_gpus"] == 4


def test_models_filtered_by_category():
    rows = run_json("models", "--category", "mixture_of_experts")
    assert [r["key"] for r in rows] == ["mixtral_8x7b", "deepseek_coder_16b", "qwen3_30b_2507", "qwen3_next_80b"]


def test_plan_mixture_of_experts_includes_humaneval():
    plan = run_json("plan", "--category", "mixture_of_experts")
    pairs = {(p["model"], p["dataset"]) for p in plan["partitions"]}
    assert ("mixtral_8x7b", "humaneval") in pairs
    assert {p["samples"] for p in plan["partitions"] if p["model"] == "mixtral_8x7b"} == {40}
    assert {m["key"] for m in plan["models"]} == {"mixtral_8x7b", "deepseek_coder_16b", "qwen3_30b_2507",
                                                  "qwen3_next_80b"}


def test_plan_reasoning_specialized_is_not_empty_and_shows_unsupported():
    plan = run_json("plan", "--category", "reasoning_specialized", "--include-optional")
    assert {p["dataset"] for p in plan["partitions"]} == {"gsm8k", "math", "arc_challenge", "mmlu"}
    assert {s["dataset"] for s in plan["skipped"]} >= {"enhanced_math_fixed", "logical_reasoning"}


def test_plan_samples_dataset_and_model_selection():
    plan = run_json("plan", "--model", "qwen_8b", "--dataset", "humaneval", "--samples", "7")
    [partition] = plan["partitions"]
    assert {k: partition[k] for k in ("model", "dataset", "samples", "category", "optional", "requests")} == {
        "model": "qwen3_8b", "dataset": "humaneval", "samples": 7, "category": "coding_specialists",
        "optional": False, "requests": 7}
    assert partition["status"] in ("fresh", "stale", "missing")
    # a model in several categories is planned in all of them (the seed used only the first)
    plan = run_json("plan", "--model", "qwen25_7b", "--include-optional")
    assert {p["dataset"] for p in plan["partitions"]} == {"gsm8k", "math", "truthfulqa", "toxigen", "hh_rlhf",
                                                          "mmlu_geography"}


def test_plan_rejects_a_dataset_outside_the_selection():
    proc = run("plan", "--category", "general_purpose", "--dataset", "mbpp")
    assert proc.returncode == 2
    assert "dataset 'mbpp' is not among the datasets of category 'general_purpose'" in proc.stderr


def test_plan_rejects_unknown_preset_with_known_ones():
    proc = run("plan", "--category", "general_purpose", "--preset", "speed")
    assert proc.returncode == 2
    assert "unknown preset 'speed'" in proc.stderr and "balanced" in proc.stderr


def test_plan_preset_changes_engine_settings_only_for_that_plan():
    mem = run_json("plan", "--model", "llama31_8b", "--preset", "memory_optimized")
    default = run_json("plan", "--model", "llama31_8b")
    assert mem["models"][0]["gpu_memory_utilization"] == 0.75 and mem["models"][0]["max_model_len"] == 8192
    assert default["models"][0]["gpu_memory_utilization"] == 0.9


def test_datasets_json_shows_status():
    rows = {r["name"]: r for r in run_json("datasets")}
    assert rows["gsm8k"]["supported"] and rows["gsm8k"]["available_offline"]
    assert not rows["repobench"]["available_offline"]
    assert not rows["bigcodebench"]["supported"] and "no offline copy" in rows["bigcodebench"]["reason"]


def test_validate_broken_registry_exits_nonzero_naming_the_problem(tmp_path):
    broken = tmp_path / "registry"
    shutil.copytree(SHIPPED, broken)
    path = broken / "models.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["models"]["llama31_70b"]["tensor_parallel_size"] = 3
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = run("validate", "--registry", str(broken))
    assert proc.returncode == 1
    assert "models.yaml: llama31_70b.tensor_parallel_size: 3 is not a power of two" in proc.stderr
    ok = run("validate")
    assert ok.returncode == 0 and "is valid: 58 models (+4 aliases), 11 categories" in ok.stdout.replace("\n", " ")


def test_registry_commands_import_no_heavy_library():
    code = ("import sys; from typer.testing import CliRunner; from llmeval_assets.cli.main import app; "
            "r = CliRunner().invoke(app, ['plan', '--category', 'general_purpose', '--json']); assert r.exit_code == 0;"
            "heavy = sorted(m for m in ('vllm', 'torch', 'dagster', 'datasets', 'transformers') if m in sys.modules);"
            "print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
