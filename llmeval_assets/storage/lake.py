"""The Parquet lake that evaluation runs write: any number of runs write here in parallel, each file appears
atomically (written aside, then renamed), and only the `results_db` asset turns the lake into DuckDB tables (DuckDB
allows one writing process; dagster_findings.md §4).

    <root>/predictions/dataset=<d>/model=<m>/profile=<p>/part-<uuid>.parquet  one file per completed chunk
    <root>/identities/dataset=<d>/model=<m>/profile=<p>/identity.json        what the last predictions step computed
    <root>/sample_scores/dataset=<d>/model=<m>/profile=<p>/part.parquet      the current result, replaced whole
    <root>/metrics/dataset=<d>/model=<m>/profile=<p>/part.parquet
    <root>/partitions/dataset=<d>/model=<m>/profile=<p>/part.parquet         the current result's identity
    <root>/runs/model=<m>/run=<run_id>/part.parquet
    <root>/datasets/<dataset>.json                                             the current snapshot of a dataset
    <root>/weights/<model>.json                                                the resolved weights of a model

Predictions are append-only chunks, so a run killed mid-way keeps every completed chunk. Every row carries what it
was computed from (weights revision, engine fingerprint, tokenizer, item content and request digests): a re-run
reuses a row only for the same evaluation (llmeval_assets.evaluation.matching_prediction), and no row is ever
re-stamped with a revision it was not computed with."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from llmeval_assets.benchmarks.base import MetricValue, Prediction, SampleScore
from llmeval_assets.identity import EvaluationIdentity
from llmeval_assets.paths import path_under, quarantine, read_error

PREDICTION_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("profile", pa.string()), ("spec_hash", pa.string()),
    ("item_id", pa.string()), ("item_group", pa.string()), ("item_hash", pa.string()),
    ("request_digest", pa.string()), ("request", pa.string()), ("prompt_hash", pa.string()),
    ("outputs", pa.list_(pa.string())), ("finish_reasons", pa.list_(pa.string())),
    ("logprobs", pa.list_(pa.float64())), ("is_greedy", pa.list_(pa.bool_())), ("tokens_in", pa.int64()),
    ("tokens_out", pa.int64()), ("latency_s", pa.float64()), ("error", pa.string()), ("run_id", pa.string()),
    ("weights_revision", pa.string()), ("dataset_version", pa.string()), ("engine_hash", pa.string()),
    ("tokenizer_hash", pa.string()), ("created_at", pa.timestamp("us", tz="UTC")),
])
SAMPLE_SCORE_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("profile", pa.string()), ("spec_hash", pa.string()),
    ("item_id", pa.string()), ("item_group", pa.string()), ("metric", pa.string()), ("value", pa.float64()),
    ("answer", pa.string()), ("target", pa.string()), ("unanswered", pa.bool_()), ("explanation", pa.string()),
])
METRIC_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("profile", pa.string()), ("spec_hash", pa.string()),
    ("metric", pa.string()), ("item_group", pa.string()), ("value", pa.float64()), ("stderr", pa.float64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("n", pa.int64()), ("n_clusters", pa.int64()),
    ("is_primary", pa.bool_()),
])
PARTITION_SCHEMA = pa.schema([
    ("model", pa.string()), ("dataset", pa.string()), ("profile", pa.string()), ("profile_label", pa.string()),
    ("benchmark", pa.string()), ("variant", pa.string()), ("num_fewshot", pa.int64()),
    ("chat_template", pa.bool_()), ("reference", pa.string()), ("primary_metric", pa.string()),
    ("spec_hash", pa.string()), ("dataset_version", pa.string()), ("weights_revision", pa.string()),
    ("engine_hash", pa.string()), ("engine", pa.string()), ("tokenizer_hash", pa.string()),
    ("identity_hash", pa.string()), ("samples", pa.int64()), ("item_ids", pa.list_(pa.string())),
    ("run_id", pa.string()), ("materialized_at", pa.timestamp("us", tz="UTC")), ("judge", pa.string()),
    ("fixture", pa.bool_()),
])
RUN_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("model", pa.string()), ("datasets", pa.list_(pa.string())),
    ("profile", pa.string()), ("started_at", pa.timestamp("us", tz="UTC")),
    ("finished_at", pa.timestamp("us", tz="UTC")), ("wall_s", pa.float64()), ("engine_load_s", pa.float64()),
    ("inference_s", pa.float64()), ("gpu_seconds", pa.float64()), ("tensor_parallel_size", pa.int32()),
    ("backend", pa.string()), ("backend_version", pa.string()), ("engine_args", pa.string()),
    ("tokens_in", pa.int64()), ("tokens_out", pa.int64()), ("samples", pa.int64()), ("device", pa.string()),
])
# what losing an unreadable file of each table means (it is moved aside, never deleted)
_CONSEQUENCES = {
    "predictions": "its predictions are computed again; every other chunk is kept",
    "sample_scores": "the result is scored again from its stored predictions",
    "metrics": "the result is scored again from its stored predictions",
    "partitions": "the result counts as missing and the next run scores it again from its stored predictions",
    "runs": "that run's timings are left out of the reports",
}
TABLES = {"predictions": PREDICTION_SCHEMA, "sample_scores": SAMPLE_SCORE_SCHEMA, "metrics": METRIC_SCHEMA,
          "partitions": PARTITION_SCHEMA, "runs": RUN_SCHEMA}
# folders below <root>/<table>/ before a table's files
TABLE_DEPTH = {"predictions": 3, "sample_scores": 3, "metrics": 3, "partitions": 3, "runs": 2}


@dataclass(frozen=True)
class PartitionState:
    """What the current (model, dataset, profile) result was computed from and how it was evaluated; compared with
    the present to decide freshness, and shown by reports."""

    model: str
    dataset: str
    profile: str
    profile_label: str
    benchmark: str
    variant: str
    num_fewshot: int
    chat_template: bool
    reference: str
    primary_metric: str
    spec_hash: str
    dataset_version: str
    weights_revision: str
    engine_hash: str
    engine: str  # JSON fingerprint
    tokenizer_hash: str
    identity_hash: str
    samples: int
    item_ids: tuple[str, ...]
    run_id: str
    materialized_at: Any  # datetime
    judge: str = ""  # who judged and how (JudgeChoice.describe), for judged benchmarks; "" otherwise
    fixture: bool = False  # computed on a hand-built fixture, not the benchmark's data

    @classmethod
    def of(cls, identity: EvaluationIdentity, *, evaluation: dict[str, Any], run_id: str, materialized_at: Any,
           judge: str = "", fixture: bool = False) -> PartitionState:
        return cls(model=identity.model, dataset=identity.dataset, profile=identity.profile,
                   benchmark=identity.benchmark, spec_hash=identity.spec_hash,
                   dataset_version=identity.dataset_version, weights_revision=identity.weights_revision,
                   engine_hash=identity.engine_hash, engine=identity.engine, tokenizer_hash=identity.tokenizer_hash,
                   identity_hash=identity.identity_hash, samples=len(identity.item_ids),
                   item_ids=identity.item_ids, run_id=run_id, materialized_at=materialized_at, judge=judge,
                   fixture=fixture, **evaluation)


@dataclass(frozen=True)
class StoredPrediction:
    """A stored prediction and what it was computed from."""

    prediction: Prediction
    spec_hash: str
    weights_revision: str
    engine_hash: str
    tokenizer_hash: str
    item_hash: str
    request_digest: str
    run_id: str


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

    def _dir(self, table: str, dataset: str, model: str, profile: str) -> Path:
        return path_under(self.root, table, f"dataset={dataset}", f"model={model}", f"profile={profile}")

    def files(self, table: str) -> list[Path]:
        """Every Parquet file of a table (partials excluded: they start with a dot)."""
        return sorted((self.root / table).glob("/".join(["*"] * TABLE_DEPTH[table] + ["[!.]*.parquet"])))

    # --- reading: a file that cannot be read (truncated, corrupt) is moved aside, said so, and treated as absent --
    def _read_parquet(self, path: Path, consequence: str, schema: pa.Schema | None = None) -> pa.Table | None:
        """The file's table, or None when it does not exist or is unreadable (then quarantined)."""
        if not path.exists():
            return None
        try:
            return pq.read_table(path, schema=schema)
        except (pa.ArrowException, OSError) as exc:
            self._quarantine(path, read_error(exc, path), consequence)
            return None

    def _read_json(self, path: Path, consequence: str) -> dict[str, Any] | None:
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, found {type(record).__name__}")
            return record
        except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            self._quarantine(path, read_error(exc, path), consequence)
            return None

    def _quarantine(self, path: Path, problem: str, consequence: str) -> None:
        quarantine(path, self.root, problem, consequence)
        parts = path.relative_to(self.root).parts
        if parts[0] in ("sample_scores", "metrics") and len(parts) == 5:
            # a result without its scores or metrics is no result: its record goes too, so it reads as missing
            record = self.root.joinpath("partitions", *parts[1:4], "part.parquet")
            if record.exists():
                quarantine(record, self.root, f"its {parts[0]} file was unreadable",
                           "the result counts as missing and the next run scores it again")

    def table(self, table: str) -> pa.Table:
        """All readable rows of a lake table (what the results database is built from)."""
        schema = TABLES[table]
        tables = [t for t in (self._read_parquet(f, _CONSEQUENCES[table], schema) for f in self.files(table))
                  if t is not None]
        return pa.concat_tables(tables) if tables else schema.empty_table()

    # --- predictions: append-only chunks ------------------------------------------------------------------------
    def append_predictions(self, rows: Sequence[dict[str, Any]]) -> Path | None:
        if not rows:
            return None
        first = rows[0]
        path = self._dir("predictions", first["dataset"], first["model"], first["profile"]) / \
            f"part-{uuid.uuid4().hex}.parquet"
        _write_atomic(pa.Table.from_pylist(list(rows), schema=PREDICTION_SCHEMA), path)
        return path

    def stored_predictions(self, model: str, dataset: str, profile: str) -> dict[str, list[StoredPrediction]]:
        """Every stored prediction of (model, dataset, profile), by item id, oldest first."""
        folder = self._dir("predictions", dataset, model, profile)
        found: dict[str, list[StoredPrediction]] = {}
        for path in sorted(folder.glob("part-*.parquet"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
            chunk = self._read_parquet(path, _CONSEQUENCES["predictions"])
            for row in chunk.to_pylist() if chunk is not None else ():
                found.setdefault(row["item_id"], []).append(StoredPrediction(
                    prediction=Prediction(
                        item_id=row["item_id"], outputs=tuple(row["outputs"] or ()),
                        logprobs=tuple(row["logprobs"] or ()), is_greedy=tuple(row["is_greedy"] or ()),
                        finish_reasons=tuple(row["finish_reasons"] or ()), prompt_hash=row["prompt_hash"] or "",
                        tokens_in=row["tokens_in"] or 0, tokens_out=row["tokens_out"] or 0,
                        latency_s=row["latency_s"] or 0.0, error=row["error"]),
                    spec_hash=row["spec_hash"], weights_revision=row["weights_revision"],
                    engine_hash=row["engine_hash"], tokenizer_hash=row["tokenizer_hash"],
                    item_hash=row["item_hash"], request_digest=row["request_digest"], run_id=row["run_id"]))
        return found

    # --- the identity the predictions step computed, read by the scores step ---------------------------------------
    def write_identity(self, identity: EvaluationIdentity) -> None:
        _write_json_atomic(identity.as_record(),
                           self._dir("identities", identity.dataset, identity.model, identity.profile) /
                           "identity.json")

    def identity(self, model: str, dataset: str, profile: str) -> EvaluationIdentity | None:
        path = self._dir("identities", dataset, model, profile) / "identity.json"
        consequence = "the next predictions step records it again"
        record = self._read_json(path, consequence)
        try:
            return EvaluationIdentity.from_record(record) if record is not None else None
        except (ValueError, TypeError) as exc:  # a record of another shape (lacking fields, wrong types)
            self._quarantine(path, read_error(exc, path), consequence)
            return None

    # --- scores, metrics, partition state: replaced whole ---------------------------------------------------------
    def write_scores(self, identity: EvaluationIdentity, scores: Sequence[SampleScore],
                     metrics: Sequence[MetricValue], primary: str, state: PartitionState) -> None:
        key = {"model": identity.model, "dataset": identity.dataset, "profile": identity.profile,
               "spec_hash": identity.spec_hash}
        sample_rows = [{**key, "item_id": s.item_id, "item_group": s.group, "metric": metric, "value": float(value),
                        "answer": s.answers.get(metric, s.answer), "target": s.target, "unanswered": s.unanswered,
                        "explanation": s.explanation}
                       for s in scores for metric, value in s.values.items()]
        metric_rows = [{**key, "metric": m.name, "item_group": m.group, "value": m.value, "stderr": m.stderr,
                        "ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n, "n_clusters": m.n_clusters,
                        "is_primary": m.name == primary and m.group is None}
                       for m in metrics]
        where = (identity.dataset, identity.model, identity.profile)
        _write_atomic(pa.Table.from_pylist(sample_rows, schema=SAMPLE_SCORE_SCHEMA),
                      self._dir("sample_scores", *where) / "part.parquet")
        _write_atomic(pa.Table.from_pylist(metric_rows, schema=METRIC_SCHEMA),
                      self._dir("metrics", *where) / "part.parquet")
        # written last: a partition counts as materialized only once its scores and metrics are in place
        _write_atomic(pa.Table.from_pylist([asdict(state)], schema=PARTITION_SCHEMA),
                      self._dir("partitions", *where) / "part.parquet")

    def partition_state(self, model: str, dataset: str, profile: str) -> PartitionState | None:
        table = self._read_parquet(self._dir("partitions", dataset, model, profile) / "part.parquet",
                                   _CONSEQUENCES["partitions"])
        if table is None or not table.num_rows:
            return None
        row = table.to_pylist()[0]
        known = {f.name for f in fields(PartitionState)}
        return PartitionState(**{**{k: v for k, v in row.items() if k in known},
                                 "item_ids": tuple(row.get("item_ids") or ())})

    def partition_states(self) -> list[PartitionState]:
        """Every current result in the lake."""
        states = []
        for path in self.files("partitions"):
            dataset, model, profile = (part.split("=", 1)[1] for part in path.parts[-4:-1])
            state = self.partition_state(model, dataset, profile)
            if state is not None:
                states.append(state)
        return states

    def metrics(self, model: str, dataset: str, profile: str) -> list[dict[str, Any]]:
        table = self._read_parquet(self._dir("metrics", dataset, model, profile) / "part.parquet",
                                   _CONSEQUENCES["metrics"])
        return table.to_pylist() if table is not None else []

    def sample_scores(self, model: str, dataset: str, profile: str) -> list[dict[str, Any]]:
        table = self._read_parquet(self._dir("sample_scores", dataset, model, profile) / "part.parquet",
                                   _CONSEQUENCES["sample_scores"])
        return table.to_pylist() if table is not None else []

    # --- runs ---------------------------------------------------------------------------------------------------
    def write_run(self, row: dict[str, Any]) -> None:
        path = path_under(self.root, "runs", f"model={row['model']}", f"run={row['run_id']}", "part.parquet")
        _write_atomic(pa.Table.from_pylist([row], schema=RUN_SCHEMA), path)

    # --- small JSON records: current dataset snapshots and resolved weights ---------------------------------------
    def set_current_snapshot(self, dataset: str, record: dict[str, Any]) -> None:
        _write_json_atomic(record, path_under(self.root, "datasets", f"{dataset}.json"))

    def current_snapshot(self, dataset: str) -> dict[str, Any] | None:
        """The record of the dataset's current snapshot; None when there is none, or its file is gone (then the
        snapshot is built again)."""
        record = self._read_json(path_under(self.root, "datasets", f"{dataset}.json"),
                                 "the dataset's snapshot is built again")
        return record if record is not None and Path(str(record.get("path", ""))).is_file() else None

    def set_weights(self, model: str, record: dict[str, Any]) -> None:
        _write_json_atomic(record, path_under(self.root, "weights", f"{model}.json"))

    def weights(self, model: str) -> dict[str, Any] | None:
        return self._read_json(path_under(self.root, "weights", f"{model}.json"),
                               "the model's weights are resolved again")
