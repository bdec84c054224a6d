"""A run that fails inside Dagster reaches the CLI user as its cause in a line, with the run id and the file
holding the full log (issue 14 §2); a corrupt dataset snapshot is found and rebuilt before any run needs it. A real
Dagster instance and the real CLI; the failure (a checkpoint directory without weight files, which the pre-run check
of the weights cannot see: it looks for config.json only) comes before any engine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from llmeval_assets.benchmarks.sources import read_snapshot
from llmeval_assets.registry import load_registry
from llmeval_assets.snapshots import build_snapshot
from llmeval_assets.storage.lake import ResultsLake

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_failed_run_prints_its_cause_run_id_and_log(tmp_path, monkeypatch):
    registry = tmp_path / "registry"
    shutil.copytree(PROJECT_ROOT / "registry", registry)
    models = yaml.safe_load((registry / "models.yaml").read_text())
    smollm2 = models["models"]["smollm2_135m"]
    smollm2.pop("offline")
    smollm2["local_path"] = str(tmp_path / "not_a_checkpoint")  # has a config.json and no weight files
    (tmp_path / "not_a_checkpoint").mkdir()
    (tmp_path / "not_a_checkpoint" / "config.json").write_text("{}")
    (registry / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    home, cache = tmp_path / "home", tmp_path / "cache"
    monkeypatch.setenv("LLMEVAL_DATASETS_CACHE", str(cache))
    # a current snapshot whose file a crash truncated: found before the run, moved aside and rebuilt first
    info = build_snapshot(load_registry(registry), "arc_challenge", ResultsLake(home / "lake"))
    info.path.write_bytes(info.path.read_bytes()[:500])

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "LLMEVAL_HOME": str(home),
           "LLMEVAL_DATASETS_CACHE": str(cache)}
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.run([sys.executable, "-m", "llmeval_assets.cli.main", "evaluate", "--registry", str(registry),
                           "--model", "smollm2_135m", "--dataset", "arc_challenge", "--samples", "2"],
                          capture_output=True, text=True, check=False, timeout=600, cwd=PROJECT_ROOT, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"warning: {info.path} is unreadable (ArrowInvalid: ")
    match = re.fullmatch(r"Dagster run (\S+) \(evaluate_model, smollm2_135m\) failed: model_weights: WeightsError: "
                         r"local checkpoint (\S+) has no weight files \(\*\.safetensors, \*\.bin\)", lines[1])
    assert match and match[2] == str(tmp_path / "not_a_checkpoint"), lines
    run_id = match[1]
    log = home / "logs" / f"{run_id}.log"
    assert lines[2:] == [f"completed samples are kept and a re-run resumes from them; full log: {log} (and "
                         f"`llmeval ui`, run {run_id})"]
    full = log.read_text()
    assert "DagsterExecutionStepExecutionError" in full and "Stack Trace:" in full and "WeightsError" in full
    assert proc.stdout.splitlines()[0] == "snapshotting arc_challenge"
    assert len(read_snapshot(info.path)) == 1172  # rebuilt in place
    assert len(list((cache / "quarantine" / "arc_challenge").iterdir())) == 1
