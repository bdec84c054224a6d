"""`llmeval verify-scorers` and `llmeval snapshot`, run as real subprocesses on the offline data."""

import json
import os
import subprocess
import sys
from pathlib import Path

from llmeval_assets.benchmarks.sources import read_snapshot

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def llmeval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmeval_assets.cli.main", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_cli_module_imports_nothing_heavy():
    code = ("import sys, llmeval_assets.cli.benchmarks; "
            "print(sorted(m for m in ('pyarrow', 'datasets', 'vllm', 'torch', 'dagster') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_verify_scorers_json_on_full_offline_data():
    result = llmeval("verify-scorers", "--dataset", "arc_challenge", "--all-variants", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["dataset"], r["variant"], r["n"], r["gold_score"], r["empty_score"], r["ok"]) for r in rows] == [
        ("arc_challenge", "0shot", 1172, 1.0, 0.0, True), ("arc_challenge", "chat_0shot", 1172, 1.0, 0.0, True)]


def test_verify_scorers_rejects_an_unknown_dataset():
    result = llmeval("verify-scorers", "--dataset", "no_such_dataset")
    assert result.returncode == 2
    assert "no_such_dataset" in result.stderr


def test_snapshot_writes_content_addressed_parquet(tmp_path):
    env = {"LLMEVAL_DATASETS_CACHE": str(tmp_path)}
    first = llmeval("snapshot", "--dataset", "hellaswag", "--json", env=env)
    assert first.returncode == 0, first.stderr
    (row,) = json.loads(first.stdout)
    path = Path(row["path"])
    assert path == tmp_path / "hellaswag" / f"{row['content_hash']}.parquet"
    assert row["rows"] == 10042 == len(read_snapshot(path))
    again = llmeval("snapshot", "--dataset", "hellaswag", "--json", env=env)
    assert json.loads(again.stdout) == [row]


def test_verify_scorers_covers_the_image_benchmarks(tmp_path):
    images = ["scienceqa", "ai2d", "chartqa", "docvqa", "textvqa"]
    rows = []
    for dataset in images:
        result = llmeval("verify-scorers", "--dataset", dataset, "--json",
                         env={"LLMEVAL_DATASETS_CACHE": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        rows += json.loads(result.stdout)
    assert [(r["dataset"], r["n"], r["gold_score"], r["empty_score"], r["ok"]) for r in rows] == [
        (dataset, 6, 1.0, 0.0, True) for dataset in images]  # the generated fixture offline
    assert any((tmp_path / "images").rglob("*"))  # their images, stored content-addressed
