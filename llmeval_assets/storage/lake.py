"""The Parquet lake that evaluation runs write: any number of runs write here in parallel, each file appears
atomically (written aside, then renamed), and only the `results_db` asset turns the lake into DuckDB tables (DuckDB
allows one writing process; dagster_findings.md §4).

    <root>/predictions/dataset=<d>/model=<m>/spec=<hash>/part-<uuid>.parquet   one file per completed chunk
    <root>/sample_scores/dataset=<d>/model=<m>/part.parquet                     current spec only, replaced whole
    <root>/metrics/dataset=<d>/model=<m>/part.parquet
    <root>/partitions/dataset=<d>/model=<m>/part.parquet                        what the stored result came from
    <root>/runs/model=<m>/run=<run_id>/part.parquet
    <root>/datasets/<dataset>.json                                              the current snapshot of a dataset
    <root>/weights/<model>.json                                                 the resolved weights of a model

Predictions are append-only chunks so that a run killed mid-way keeps every completed chunk: a re-run with the same
spec skips the item ids already stored (resume)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from llmeval_assets.benchmarks.base import MetricValue, Prediction, SampleScore

PREDICTION_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("spec_hash", pa.string()), ("item_id", pa.string()),
    ("item_group", pa.string()), ("prompt_hash", pa.string()), ("outputs", pa.list_(pa.string())),
    ("finish_reasons", pa.list_(pa.string())), ("logprobs", pa.list_(pa.float64())),
    ("is_greedy", pa.list_(pa.bool_())), ("tokens_in", pa.int64()), ("tokens_out", pa.int64()),
    ("latency_s", pa.float64()), ("error", pa.string()), ("run_id", pa.string()),
    ("weights_revision", pa.string()), ("created_at", pa.timestamp("us", tz="UTC")),
])
SAMPLE_SCORE_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("spec_hash", pa.string()), ("item_id", pa.string()),
    ("item_group", pa.string()), ("metric", pa.string()), ("value", pa.float64()), ("answer", pa.string()),
    ("target", pa.string()), ("unanswered", pa.bool_()),
])
METRIC_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("spec_hash", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()), ("stderr", pa.float64()), ("n", pa.int64()), ("n_clusters", pa.int64()),
    ("is_primary", pa.bool_()),
])
PARTITION_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("spec_hash", pa.string()), ("dataset_version", pa.string()),
    ("weights_revision", pa.string()), ("samples", pa.int64()), ("run_id", pa.string()),
    ("materialized_at", pa.timestamp("us", tz="UTC")), ("judge", pa.string()),
])
RUN_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("model", pa.string()), ("datasets", pa.list_(pa.string())),
    ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
    ("wall_s", pa.float64()), ("engine_load_s", pa.float64()), ("inference_s", pa.float64()),
    ("gpu_seconds", pa.float64()), ("tensor_parallel_size", pa.int32()), ("backend", pa.string()),
    ("backend_version", pa.string()), ("engine_args", pa.string()), ("tokens_in", pa.int64()),
    ("tokens_out", pa.int64()), ("samples", pa.int64()), ("device", pa.string()),
])
TABLES = {"predictions": PREDICTION_SCHEMA, "sample_scores": SAMPLE_SCORE_SCHEMA, "metrics": METRIC_SCHEMA,
          "partitions": PARTITION_SCHEMA, "runs": RUN_SCHEMA}


@dataclass(frozen=True)
class PartitionState:
    """What a stored (model, dataset) result was computed from; compared with the present to decide freshness."""

    model: str
    dataset: str
    spec_hash: str
    dataset_version: str
    weights_revision: str
    samples: int
    run_id: str
    materialized_at: Any  # datetime
    judge: str = ""  # who judged and how (JudgeChoice.describe), for judged benchmarks; "" otherwise


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    pq.write_table(table, partial)
    os.replace(partial, path)


def _write_json_atomic(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    partial.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    os.replace(partial, path)


class ResultsLake:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, table: str, dataset: str, model: str) -> Path:
        return self.root / table / f"dataset={dataset}" / f"model={model}"

    def files(self, table: str) -> list[Path]:
        """Every Parquet file of a table (partials excluded: they start with a dot)."""
        depth = 4 if table == "predictions" else 3
        return sorted((self.root / table).glob("/".join(["*"] * (depth - 1) + ["[!.]*.parquet"])))

    # --- predictions: append-only chunks ------------------------------------------------------------------------
    def append_predictions(self, rows: Sequence[dict[str, Any]]) -> Path | None:
        if not rows:
            return None
        first = rows[0]
        folder = self._dir("predictions", first["dataset"], first["model"]) / f"spec={first['spec_hash']}"
        path = folder / f"part-{uuid.uuid4().hex}.parquet"
        _write_atomic(pa.Table.from_pylist(list(rows), schema=PREDICTION_SCHEMA), path)
        return path

    def stored_predictions(self, model: str, dataset: str, spec_hash: str) -> dict[str, Prediction]:
        """Every stored prediction of this (model, dataset, spec), by item id (later chunks win on duplicates)."""
        folder = self._dir("predictions", dataset, model) / f"spec={spec_hash}"
        found: dict[str, Prediction] = {}
        for path in sorted(folder.glob("part-*.parquet"), key=lambda p: p.stat().st_mtime):
            for row in pq.read_table(path).to_pylist():
                found[row["item_id"]] = Prediction(
                    item_id=row["item_id"], outputs=tuple(row["outputs"] or ()), logprobs=tuple(row["logprobs"] or ()),
                    is_greedy=tuple(row["is_greedy"] or ()), finish_reasons=tuple(row["finish_reasons"] or ()),
                    prompt_hash=row["prompt_hash"] or "", tokens_in=row["tokens_in"] or 0,
                    tokens_out=row["tokens_out"] or 0, latency_s=row["latency_s"] or 0.0, error=row["error"])
        return found

    # --- scores, metrics, partition state: replaced whole ---------------------------------------------------------
    def write_scores(self, model: str, dataset: str, spec_hash: str, scores: Sequence[SampleScore],
                     metrics: Sequence[MetricValue], primary: str, state: PartitionState) -> None:
        sample_rows = [{"model": model, "dataset": dataset, "spec_hash": spec_hash, "item_id": s.item_id,
                        "item_group": s.group, "metric": metric, "value": float(value), "answer": s.answer,
                        "target": s.target, "unanswered": s.unanswered}
                       for s in scores for metric, value in s.values.items()]
        metric_rows = [{"model": model, "dataset": dataset, "spec_hash": spec_hash, "metric": m.name,
                        "value": m.value, "stderr": m.stderr, "n": m.n, "n_clusters": m.n_clusters,
                        "is_primary": m.name == primary}
                       for m in metrics]
        _write_atomic(pa.Table.from_pylist(sample_rows, schema=SAMPLE_SCORE_SCHEMA),
                      self._dir("sample_scores", dataset, model) / "part.parquet")
        _write_atomic(pa.Table.from_pylist(metric_rows, schema=METRIC_SCHEMA),
                      self._dir("metrics", dataset, model) / "part.parquet")
        # written last: a partition counts as materialized only once its scores and metrics are in place
        _write_atomic(pa.Table.from_pylist([asdict(state)], schema=PARTITION_SCHEMA),
                      self._dir("partitions", dataset, model) / "part.parquet")

    def partition_state(self, model: str, dataset: str) -> PartitionState | None:
        path = self._dir("partitions", dataset, model) / "part.parquet"
        if not path.exists():
            return None
        return PartitionState(**pq.read_table(path).to_pylist()[0])

    def metrics(self, model: str, dataset: str) -> list[dict[str, Any]]:
        path = self._dir("metrics", dataset, model) / "part.parquet"
        return pq.read_table(path).to_pylist() if path.exists() else []

    def sample_scores(self, model: str, dataset: str) -> list[dict[str, Any]]:
        path = self._dir("sample_scores", dataset, model) / "part.parquet"
        return pq.read_table(path).to_pylist() if path.exists() else []

    # --- runs ---------------------------------------------------------------------------------------------------
    def write_run(self, row: dict[str, Any]) -> None:
        path = self.root / "runs" / f"model={row['model']}" / f"run={row['run_id']}" / "part.parquet"
        _write_atomic(pa.Table.from_pylist([row], schema=RUN_SCHEMA), path)

    # --- small JSON records: current dataset snapshots and resolved weights ---------------------------------------
    def set_current_snapshot(self, dataset: str, record: dict[str, Any]) -> None:
        _write_json_atomic(record, self.root / "datasets" / f"{dataset}.json")

    def current_snapshot(self, dataset: str) -> dict[str, Any] | None:
        path = self.root / "datasets" / f"{dataset}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def set_weights(self, model: str, record: dict[str, Any]) -> None:
        _write_json_atomic(record, self.root / "weights" / f"{model}.json")

    def weights(self, model: str) -> dict[str, Any] | None:
        path = self.root / "weights" / f"{model}.json"
        return json.loads(path.read_text()) if path.exists() else None

