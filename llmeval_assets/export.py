"""Results as files for other tools (`llmeval evaluate --output-path DIR`), in the schema docs/output_files.md
describes and docs/results.schema.json checks:

    DIR/results.json                                  every result the run asked for: scores, standard errors,
                                                      95% intervals, per-group values, how it was evaluated,
                                                      versions, engine fingerprint and arguments, timings
    DIR/samples_<model>_<dataset>_<profile>.jsonl     one line per sample (llmeval_assets.results.sample_records)

Read from the results DuckDB after the run's report refresh, through the same functions as `llmeval samples`."""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from llmeval_assets.results import sample_records, stored_results

SCHEMA = "llmeval-results/1"
RESULTS_FILE = "results.json"


class ExportError(RuntimeError):
    """A result the run asked for is not in the results file (the message says which)."""


def samples_file_name(model: str, dataset: str, profile: str) -> str:
    return "samples_" + "_".join(re.sub(r"[^A-Za-z0-9._~-]+", "-", part) for part in (model, dataset, profile)) \
        + ".jsonl"


def write_output(con: duckdb.DuckDBPyConnection, out_dir: Path,
                 wanted: Iterable[tuple[str, str, str]]) -> Path:
    """Write results.json and one samples file per (model, dataset, profile) of `wanted` into `out_dir`; returns
    the path of results.json. Raises ExportError when one of them has no stored result."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results, run_ids = [], set()
    for model, dataset, profile in wanted:
        found = stored_results(con, model, dataset, profile)
        if not found:
            raise ExportError(f"no stored result of {model} on {dataset} under profile {profile}")
        result = found[0]
        records = sample_records(con, result)
        name = samples_file_name(model, dataset, profile)
        (out_dir / name).write_text("".join(json.dumps({"model": model, "dataset": dataset, "profile": profile,
                                                        **record}, sort_keys=True, default=str) + "\n"
                                            for record in records), encoding="utf-8")
        results.append({**result_entry(con, result), "samples_file": name})
        run_ids |= _run_ids(con, result)
    payload = {"schema": SCHEMA, "llmeval_version": importlib.metadata.version("llmeval"),
               "created_at": datetime.now(UTC).isoformat(), "results": results, "runs": runs(con, run_ids)}
    path = out_dir / RESULTS_FILE
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def result_entry(con: duckdb.DuckDBPyConnection, result: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    rows = con.execute("""
        select metric, item_group, value, stderr, ci_low, ci_high, n, n_clusters from evals.metrics
        where model = ? and dataset = ? and profile = ? and spec_hash = ? order by metric, item_group nulls first""",
                       [result["model"], result["dataset"], result["profile"], result["spec_hash"]]).fetchall()
    for metric, group, value, stderr, ci_low, ci_high, n, n_clusters in rows:
        estimate = {"value": value, "stderr": stderr, "ci_low": ci_low, "ci_high": ci_high, "n": n,
                    "n_clusters": n_clusters}
        if group is None:
            metrics[metric] = estimate
        else:
            groups.setdefault(metric, {})[group] = estimate
    return {
        "model": result["model"], "dataset": result["dataset"], "profile": result["profile"],
        "profile_label": result["profile_label"], "benchmark": result["benchmark"], "variant": result["variant"],
        "num_fewshot": result["num_fewshot"], "chat_template": result["chat_template"],
        "reference": result["reference"], "primary_metric": result["primary_metric"],
        "fixture": bool(result["fixture"]), "judge": result["judge"] or None, "samples": result["samples"],
        "metrics": metrics, "groups": groups,
        "identity": {"identity_hash": result["identity_hash"], "spec_hash": result["spec_hash"],
                     "dataset_version": result["dataset_version"], "weights_revision": result["weights_revision"],
                     "tokenizer_hash": result["tokenizer_hash"], "engine_hash": result["engine_hash"],
                     "engine_fingerprint": json.loads(result["engine"]) if result["engine"] else {}},
        "run_id": result["run_id"], "materialized_at": result["materialized_at"],
    }


def _run_ids(con: duckdb.DuckDBPyConnection, result: dict[str, Any]) -> set[str]:
    """The runs that computed the result's predictions (several when a crashed run was resumed) and scored it."""
    rows = con.execute("""
        select distinct run_id from evals.predictions
        where model = ? and dataset = ? and profile = ? and spec_hash = ? and weights_revision = ?
              and engine_hash = ?""", [result["model"], result["dataset"], result["profile"], result["spec_hash"],
                                       result["weights_revision"], result["engine_hash"]]).fetchall()
    return {run_id for (run_id,) in rows} | {result["run_id"]}


def runs(con: duckdb.DuckDBPyConnection, run_ids: set[str]) -> list[dict[str, Any]]:
    if not run_ids:
        return []
    cursor = con.execute("""
        select run_id, model, profile, datasets, started_at, finished_at, wall_s, engine_load_s, inference_s,
               gpu_seconds, tensor_parallel_size, backend, backend_version, engine_args, device, tokens_in,
               tokens_out, samples
        from evals.runs where list_contains($ids, run_id) order by started_at, run_id""", {"ids": sorted(run_ids)})
    columns = [d[0] for d in cursor.description]
    found = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for run in found:
        run["engine_args"] = json.loads(run["engine_args"]) if run["engine_args"] else {}
    return found
