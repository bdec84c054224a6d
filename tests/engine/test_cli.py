"""`llmeval check-models` and `prepare-model` on the project's registry. The hub is unreachable here (for real), so
hub models report `unknown`; offline, local, gated-without-token and non-evaluable models need no hub."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from llmeval_assets.cli.main import app
from llmeval_assets.engine.weights import Availability


def test_check_models_json(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["check-models", "--json"])
    assert result.exit_code == 0, result.output
    statuses = {row["key"]: row for row in json.loads(result.output)}
    assert all(set(row) == {"key", "status", "reason"} and row["reason"] for row in statuses.values())
    assert {row["status"] for row in statuses.values()} <= {a.value for a in Availability}
    assert statuses["smollm2_135m"]["status"] == "available"
    assert statuses["llama31_8b"]["status"] == "gated" and "HF_TOKEN" in statuses["llama31_8b"]["reason"]
    assert statuses["bio_clinicalbert"]["status"] == "not_evaluable"


def test_check_models_unknown_category():
    result = CliRunner().invoke(app, ["check-models", "--category", "nope"])
    assert result.exit_code == 2 and "unknown category 'nope'" in result.output


def test_prepare_model_prints_the_checkpoint(smollm2_checkpoint):
    result = CliRunner().invoke(app, ["prepare-model", "smollm2_135m"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(smollm2_checkpoint.path)
    unknown = CliRunner().invoke(app, ["prepare-model", "smollm3"])
    assert unknown.exit_code == 2 and "unknown model 'smollm3'" in unknown.output


def test_cli_import_stays_light():
    code = "import sys, llmeval_assets.cli.engine; print(sorted({'vllm', 'torch', 'transformers'} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
