"""A result's identity: what one (model, dataset, profile) evaluation is computed from.

It is computed once, when the predictions step of an evaluation starts, stored beside the predictions
(ResultsLake.write_identity) and read by the scores step; every stored prediction row carries the parts that decide
whether it may be reused, and freshness compares a stored result's identity with the one a run would have now.

- weights revision: the hub commit, or the sha256 of local / converted weights (engine/weights.py);
- dataset version: the snapshot's content hash, and per item the hash of its own content;
- spec hash: the variant's declared spec (after profile, overrides and category settings), the requests it renders
  for a few fixed probe items (few-shot text, system instruction, chat turns and the sampling actually sent), and the
  tokenizer's fingerprint (chat template sha256, special tokens and whether BOS/EOS are added): so editing an
  exemplar's text, the chat template or a category's settings changes it, whatever the declaration says;
- engine fingerprint (engine/fingerprint.py): backend and its version, device, dtype, quantization,
  max_model_len, tensor / pipeline parallel sizes, prefix caching (and whether generations read it) and seed;
- per item: the digest of the requests it sends (benchmarks/dispatch.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from llmeval_assets.benchmarks.base import Item, TaskSpec
from llmeval_assets.engine.requests import stable_hash

PROBE_ITEMS = 3  # test items (in sample order) whose rendered requests enter the spec hash
PER_ITEM_FIELDS = ("item_ids", "request_digests")


def item_hash(item: Item) -> str:
    """The identity of one item's content (what a prediction of it read)."""
    return stable_hash({"item_id": item.item_id, "data": item.data, "group": item.group})[:16]


# ------------------------------------------------------------------------------------------------ spec


def spec_hash(spec: TaskSpec, probe_digests: Sequence[str], tokenizer: dict[str, Any]) -> str:
    return stable_hash({"declaration": spec.declaration_hash, "probes": list(probe_digests),
                        "tokenizer": tokenizer})[:16]


@dataclass(frozen=True)
class EvaluationIdentity:
    """What one (model, dataset, profile) result is computed from (see the module docstring)."""

    model: str
    dataset: str
    profile: str
    benchmark: str
    variant: str
    weights_revision: str
    dataset_version: str
    spec_hash: str
    tokenizer_hash: str
    engine_hash: str
    engine: str  # the engine fingerprint, JSON
    item_ids: tuple[str, ...]
    request_digests: tuple[str, ...]  # per item, aligned with item_ids: what each item's requests carry

    @property
    def identity_hash(self) -> str:
        """Everything but the items: two runs of one identity differ only in how many items they cover."""
        record = self.as_record()
        for per_item in PER_ITEM_FIELDS:
            record.pop(per_item)
        return stable_hash(record)[:16]

    def as_record(self) -> dict[str, Any]:
        return {f.name: (list(getattr(self, f.name)) if f.name in PER_ITEM_FIELDS else getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EvaluationIdentity:
        known = {f.name for f in fields(cls)}
        missing = sorted(known - set(record))
        if missing:
            raise ValueError(f"identity record lacks {', '.join(missing)}")
        return cls(**{**{k: record[k] for k in known}, **{k: tuple(record[k]) for k in PER_ITEM_FIELDS}})
