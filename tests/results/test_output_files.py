"""The files `llmeval evaluate --output-path DIR` writes (llmeval_assets.export), from the real results DuckDB of
conftest.py: results.json validates against docs/results.schema.json and holds the stored numbers, and each
samples file has one line per sample. (The option itself runs in tests/pipeline/test_reproduce.py.)"""

from __future__ import annotations

import json

import jsonschema
import pytest

from llmeval_assets.export import ExportError, write_output
from llmeval_assets.paths import PROJECT_ROOT, results_db_path
from llmeval_assets.reporting import connect_read_only
from tests.results.conftest import DATASET

SCHEMA = json.loads((PROJECT_ROOT / "docs" / "results.schema.json").read_text())


@pytest.fixture()
def written(results_env, tmp_path):
    with connect_read_only(results_db_path(results_env.home)) as con:
        path = write_output(con, tmp_path, [("tiny_a", DATASET, "default"), ("tiny_a", DATASET, "lm_eval~8bd90679")])
    return path, json.loads(path.read_text())


def test_results_json_follows_its_documented_schema(written):
    _, payload = written
    jsonschema.validate(payload, SCHEMA)
    default, limited = payload["results"]
    assert (default["profile"], default["variant"], default["primary_metric"]) == ("default", "0shot", "acc_norm")
    assert limited["profile_label"] == "lm_eval with limit=3" and limited["samples"] == 3
    acc_norm = default["metrics"]["acc_norm"]
    assert acc_norm["value"] == pytest.approx(0.5) and acc_norm["n"] == 6
    assert acc_norm["stderr"] == pytest.approx((0.5 * 0.5 * 6 / 5 / 6) ** 0.5)  # sample variance / n
    assert acc_norm["ci_low"] < 0.5 < acc_norm["ci_high"]
    assert default["identity"]["engine_fingerprint"]["dtype"] == "float32"
    assert default["identity"]["weights_revision"] == "rev-tiny_a"
    assert default["reference"] == "lm-evaluation-harness arc_challenge"


def test_a_bad_document_fails_the_schema(written):
    _, payload = written
    del payload["results"][0]["identity"]["spec_hash"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, SCHEMA)


def test_each_result_has_its_samples_file(written, results_env):
    path, payload = written
    lines = (path.parent / payload["results"][0]["samples_file"]).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["item_id"] for r in records] == results_env.order[:6]
    assert {r["item_id"] for r in records if r["correct"]} == results_env.known("tiny_a")
    assert all(r["model"] == "tiny_a" and r["profile"] == "default" and r["requests"] for r in records)
    assert payload["results"][1]["samples_file"] == "samples_tiny_a_arc_challenge_lm_eval~8bd90679.jsonl"


def test_a_result_that_is_not_stored_is_named(results_env, tmp_path):
    with connect_read_only(results_db_path(results_env.home)) as con, pytest.raises(ExportError, match=(
            "no stored result of tiny_b on arc_challenge under profile lm_eval")):
        write_output(con, tmp_path, [("tiny_b", DATASET, "lm_eval")])
