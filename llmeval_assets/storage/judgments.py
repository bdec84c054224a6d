"""Judge verdicts (MT-Bench), cached by (judge model, judge prompt version, answer hash) so re-scoring or adding a
model never pays twice for the same judgment. One small JSON file per verdict, written atomically."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from llmeval_assets.engine.requests import stable_hash
from llmeval_assets.paths import quarantine, read_error


class JudgmentCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, key: Any) -> Path:
        digest = stable_hash(key)
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, key: Any) -> dict[str, Any] | None:
        path = self._path(key)
        verdict = None
        if path.exists():
            try:
                verdict = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, OSError) as exc:  # a truncated verdict: judged again
                quarantine(path, self.root, read_error(exc, path), "that answer is judged again")
        if verdict is None:
            self.misses += 1
            return None
        self.hits += 1
        return verdict

    def put(self, key: Any, verdict: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        partial.write_text(json.dumps({"key": key, **verdict}, sort_keys=True, default=str))
        os.replace(partial, path)
