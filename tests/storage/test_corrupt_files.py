"""Broken files on disk (issue 14 §2): a truncated prediction chunk, partition record, scores file, snapshot
record, judge verdict or dataset snapshot is reported with its path, moved aside to quarantine/ (never deleted),
and treated as absent, so what is derivable is rebuilt and everything else keeps working. Real Parquet files, a
real DuckDB results file and the real CLI."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llmeval_assets.benchmarks.base import Item
from llmeval_assets.benchmarks.sources import CorruptSnapshotError, read_snapshot, write_snapshot
from llmeval_assets.registry import load_registry
from llmeval_assets.storage.judgments import JudgmentCache
from llmeval_assets.storage.lake import PARTITION_SCHEMA, SAMPLE_SCORE_SCHEMA, ResultsLake
from llmeval_assets.storage.warehouse import build_results_db

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL, DATASET, PROFILE = "smollm2_135m", "arc_challenge", "default"


def truncate(path: Path, keep: int = 40) -> None:
    """What a crash or a full disk leaves: the start of the file, no Parquet footer / no closing brace."""
    path.write_bytes(path.read_bytes()[:keep])


def prediction(item_id: str) -> dict:
    return {"model": MODEL, "dataset": DATASET, "profile": PROFILE, "spec_hash": "spec", "item_id": item_id,
            "item_hash": f"h-{item_id}", "request_digest": f"r-{item_id}", "outputs": ["A"], "run_id": "run-1",
            "weights_revision": "rev", "engine_hash": "eng", "tokenizer_hash": "tok",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


def write_partition(lake: ResultsLake, samples: int = 2) -> Path:
    """A stored result: its scores and its partition record, in the lake's own layout."""
    folder = ("dataset=" + DATASET, "model=" + MODEL, "profile=" + PROFILE)
    scores = lake.root.joinpath("sample_scores", *folder, "part.parquet")
    scores.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"model": MODEL, "dataset": DATASET, "profile": PROFILE, "item_id": "1",
                                          "metric": "acc", "value": 1.0}], schema=SAMPLE_SCORE_SCHEMA), scores)
    record = lake.root.joinpath("partitions", *folder, "part.parquet")
    record.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"model": MODEL, "dataset": DATASET, "profile": PROFILE, "samples": samples,
                                          "item_ids": ["1", "2"], "spec_hash": "spec"}], schema=PARTITION_SCHEMA),
                   record)
    return record


def quarantined(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root / "quarantine")).rsplit(".", 1)[0]
                  for p in (root / "quarantine").rglob("*") if p.is_file())


def test_a_truncated_prediction_chunk_loses_only_its_rows(tmp_path, caplog):
    lake = ResultsLake(tmp_path / "lake")
    kept = lake.append_predictions([prediction("1"), prediction("2")])
    broken = lake.append_predictions([prediction("3")])
    truncate(broken)
    with caplog.at_level(logging.WARNING, logger="llmeval"):
        assert sorted(lake.stored_predictions(MODEL, DATASET, PROFILE)) == ["1", "2"]
    [moved] = (tmp_path / "lake" / "quarantine").rglob("part-*")
    assert caplog.messages == [
        f"{broken} is unreadable (ArrowInvalid: Parquet magic bytes not found in footer. Either the file is "
        f"corrupted or this is not a parquet file.): moved to {moved}; its predictions are computed again; every "
        "other chunk is kept"]
    assert kept.exists() and not broken.exists()
    assert moved.read_bytes() == moved.read_bytes()[:40]  # kept for inspection, as found
    # and the report refresh after it: the results database holds the readable rows (it broke for good before)
    counts = build_results_db(lake, load_registry(), tmp_path / "results.duckdb")
    assert counts["predictions"] == 2


def test_a_truncated_partition_record_reads_as_missing(tmp_path, caplog):
    lake = ResultsLake(tmp_path / "lake")
    record = write_partition(lake)
    assert lake.partition_state(MODEL, DATASET, PROFILE).samples == 2
    truncate(record)
    with caplog.at_level(logging.WARNING, logger="llmeval"):
        assert lake.partition_state(MODEL, DATASET, PROFILE) is None
        assert lake.partition_states() == []
    assert quarantined(lake.root) == [f"partitions/dataset={DATASET}/model={MODEL}/profile={PROFILE}/part.parquet"]
    assert len(caplog.messages) == 1 and caplog.messages[0].startswith(f"{record} is unreadable (ArrowInvalid: ")
    assert caplog.messages[0].endswith("the result counts as missing and the next run scores it again from its "
                                       "stored predictions")


def test_truncated_scores_take_their_partition_record_along(tmp_path):
    lake = ResultsLake(tmp_path / "lake")
    record = write_partition(lake)
    truncate(lake.root / "sample_scores" / record.relative_to(lake.root / "partitions"))
    assert lake.sample_scores(MODEL, DATASET, PROFILE) == []
    assert lake.partition_state(MODEL, DATASET, PROFILE) is None  # no result without its scores: scored again
    where = f"dataset={DATASET}/model={MODEL}/profile={PROFILE}/part.parquet"
    assert quarantined(lake.root) == [f"partitions/{where}", f"sample_scores/{where}"]


@pytest.mark.parametrize("text", ['{"dataset": "arc_challenge", "content_h', "", "[1, 2]", "\udcff"])
def test_a_truncated_snapshot_record_means_no_snapshot(tmp_path, text):
    lake = ResultsLake(tmp_path / "lake")
    path = lake.root / "datasets" / f"{DATASET}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert lake.current_snapshot(DATASET) is None  # so the next run snapshots the dataset again
    assert quarantined(lake.root) == [f"datasets/{DATASET}.json"]


def test_a_snapshot_record_whose_file_is_gone_means_no_snapshot(tmp_path):
    lake = ResultsLake(tmp_path / "lake")
    lake.set_current_snapshot(DATASET, {"dataset": DATASET, "path": str(tmp_path / "gone.parquet")})
    assert lake.current_snapshot(DATASET) is None


def test_a_truncated_judge_verdict_is_judged_again(tmp_path):
    cache = JudgmentCache(tmp_path / "judgments")
    cache.put({"answer": "a"}, {"rating": 7})
    [path] = (tmp_path / "judgments").rglob("*.json")
    truncate(path, keep=10)
    assert cache.get({"answer": "a"}) is None and cache.misses == 1
    assert not path.exists()


def items() -> list[Item]:
    return [Item(item_id=str(i), data={"question": f"q{i}"}) for i in range(20)]


def test_a_truncated_dataset_snapshot_is_reported_moved_and_rebuilt(tmp_path):
    info = write_snapshot(DATASET, items(), tmp_path)
    truncate(info.path, keep=100)
    with pytest.raises(CorruptSnapshotError) as error:
        read_snapshot(info.path, DATASET)
    [moved] = (tmp_path / "quarantine" / DATASET).iterdir()
    assert str(error.value) == (
        f"dataset 'arc_challenge', row (all), field '(file)': snapshot {info.path} is unreadable (ArrowInvalid: "
        "Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.); "
        f"moved to {moved}; `llmeval snapshot --dataset arc_challenge` (or the next run) builds it again")
    assert write_snapshot(DATASET, items(), tmp_path).path == info.path
    assert len(read_snapshot(info.path, DATASET)) == 20


def test_an_edited_snapshot_fails_its_content_hash_and_is_rebuilt(tmp_path):
    info = write_snapshot(DATASET, items(), tmp_path)
    table = pq.read_table(info.path).to_pylist()
    table[3]["data"] = '{"question": "edited"}'
    pq.write_table(pa.Table.from_pylist(table), info.path)
    with pytest.raises(CorruptSnapshotError, match="does not match its content hash"):
        read_snapshot(info.path, DATASET)
    write_snapshot(DATASET, items(), tmp_path)  # what `llmeval snapshot` does: verified, rebuilt
    assert read_snapshot(info.path, DATASET)[3].data == {"question": "q3"}


def llmeval(*args: str, home: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "LLMEVAL_HOME": str(home),
           "LLMEVAL_DATASETS_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "llmeval_assets.cli.main", *args], capture_output=True, text=True,
                          check=False, timeout=300, cwd=PROJECT_ROOT, env=env)


def test_llmeval_snapshot_repairs_a_truncated_snapshot(tmp_path):
    cache = tmp_path / "cache"
    first = llmeval("snapshot", "--dataset", DATASET, home=tmp_path, cache=cache)
    assert first.returncode == 0, first.stderr
    [path] = (cache / DATASET).glob("*.parquet")
    truncate(path, keep=1000)
    again = llmeval("snapshot", "--dataset", DATASET, home=tmp_path, cache=cache)
    assert again.returncode == 0 and "Traceback" not in again.stderr
    assert f"warning: {path} is unreadable (ArrowInvalid: " in again.stderr
    assert len(read_snapshot(path, DATASET)) == 1172  # repaired, not just reported


def test_plan_survives_a_truncated_partition_record_and_snapshot_record(tmp_path):
    lake = ResultsLake(tmp_path / "lake")
    record = write_partition(lake)
    truncate(record)
    snapshot_record = lake.root / "datasets" / f"{DATASET}.json"
    snapshot_record.parent.mkdir(parents=True)
    snapshot_record.write_text('{"dataset": "arc_chal')
    proc = llmeval("plan", "--model", MODEL, "--dataset", DATASET, "--json", home=tmp_path, cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = proc.stderr.replace("\n", " ")
    assert f"warning: {record} is unreadable (ArrowInvalid: " in warnings
    assert f"warning: {snapshot_record} is unreadable (JSONDecodeError: " in warnings
    assert '"status": "missing"' in proc.stdout
