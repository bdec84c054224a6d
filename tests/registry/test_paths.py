"""Path building never leaves its root (issue 14 §2): a registry key, dataset version or run id that is `..`, an
absolute path, holds a separator or NUL is refused wherever names become paths."""

from __future__ import annotations

import pytest

from llmeval_assets.benchmarks.base import Item
from llmeval_assets.benchmarks.sources import write_snapshot
from llmeval_assets.engine.weights import convert_gguf
from llmeval_assets.paths import UnsafePathError, path_under
from llmeval_assets.storage.lake import ResultsLake

HOSTILE = ["..", ".", "/etc", "a/../../b", "a\\b", "a\x00b", ""]


def test_plain_names_join_under_the_root(tmp_path):
    assert path_under(tmp_path, "predictions", "model=smollm2_135m", "part.parquet") == \
        tmp_path / "predictions" / "model=smollm2_135m" / "part.parquet"


@pytest.mark.parametrize("name", HOSTILE)
def test_a_name_that_would_leave_the_root_is_refused(tmp_path, name):
    with pytest.raises(UnsafePathError) as info:
        path_under(tmp_path, "weights", name)
    assert str(info.value) == f"{name!r} is not a plain name: it would leave {tmp_path}"


@pytest.mark.parametrize("name", ["../../evil", "/tmp/evil", "evil\x00"])
def test_the_lake_the_snapshot_cache_and_the_model_cache_refuse_it(tmp_path, name):
    lake = ResultsLake(tmp_path / "lake")
    with pytest.raises(UnsafePathError):
        lake.set_weights(name, {"revision": "x"})
    with pytest.raises(UnsafePathError):
        lake.set_current_snapshot(name, {"dataset": name})
    with pytest.raises(UnsafePathError):
        lake.partition_state(name, "gsm8k", "default")
    with pytest.raises(UnsafePathError):
        lake.append_predictions([{"model": name, "dataset": "gsm8k", "profile": "default"}])
    with pytest.raises(UnsafePathError):
        write_snapshot(name, [Item(item_id="1", split="test", group=None, data={})], tmp_path / "cache")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"not a gguf")
    with pytest.raises(UnsafePathError):
        convert_gguf(name, gguf, cache_root=tmp_path / "models")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]  # nothing written anywhere
