"""What a run asks for beyond the registry: a named evaluation profile and run-level overrides.

A profile (registry/profiles.yaml) names per benchmark the variant, number of shots, chat-template use, system
instruction and generation settings. Overrides given on the command line (or in a Dagster run's config) change them
for one run; such a run is a profile of its own, `<profile>~<digest of the overrides>`, so its results never replace
or mix with the named profile's. Light on imports: the CLI builds these before anything heavy loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmeval_assets.engine.requests import stable_hash
from llmeval_assets.registry.schema import DType, GenerationOverrides

DEFAULT_PROFILE = "default"
GEN_KWARG_ALIASES = {"max_gen_toks": "max_tokens", "max_new_tokens": "max_tokens", "until": "stop"}


class OverrideError(ValueError):
    """A run-level override is malformed (the message names the option and the value)."""


@dataclass(frozen=True)
class RunOverrides:
    """Run-level changes to a profile. Every field left at its default changes nothing."""

    variant: str | None = None
    num_fewshot: int | None = None
    chat_template: bool | None = None
    system_instruction: str | None = None
    gen_kwargs: tuple[tuple[str, Any], ...] = ()  # sorted (knob, value), validated by parse_gen_kwargs
    dtype: str | None = None
    limit: int | None = None  # the first N test items in dataset order (lm-eval's --limit)
    item_ids: tuple[str, ...] = ()  # an explicit item list (--items FILE)
    fewshot_file: str | None = None  # exemplars from a JSONL file of dataset rows (--fewshot-from)
    fewshot_digest: str = ""  # sha256 of that file's content: the exemplars' identity, not the path

    def __post_init__(self) -> None:
        if self.num_fewshot is not None and self.num_fewshot < 0:
            raise OverrideError(f"--num-fewshot must be 0 or more (got {self.num_fewshot})")
        if self.limit is not None and self.limit <= 0:
            raise OverrideError(f"--limit must be positive (got {self.limit})")
        if self.limit is not None and self.item_ids:
            raise OverrideError("--limit and --items both choose the items: give one of them")
        if self.dtype is not None and self.dtype not in {d.value for d in DType}:
            raise OverrideError(f"--dtype {self.dtype!r}: expected one of {', '.join(d.value for d in DType)}")

    def __bool__(self) -> bool:
        return bool(self.parts())

    def parts(self) -> list[str]:
        """The overrides in words, in a fixed order, e.g. ["num_fewshot=5", "dtype=float32"]."""
        parts = []
        for name in ("variant", "num_fewshot", "chat_template", "system_instruction", "dtype", "limit"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}" if isinstance(value, str) and name == "system_instruction"
                             else f"{name}={value}")
        parts.extend(f"{knob}={value!r}" if isinstance(value, str) else f"{knob}={value}"
                     for knob, value in self.gen_kwargs)
        if self.item_ids:
            parts.append(f"items={len(self.item_ids)} ids ({stable_hash(list(self.item_ids))[:8]})")
        if self.fewshot_file:
            parts.append(f"fewshot_from={Path(self.fewshot_file).name} ({self.fewshot_digest[:8]})")
        return parts

    def digest(self) -> str:
        payload = asdict(self)
        payload.pop("fewshot_file")  # the exemplars' content counts, not where the file lies
        return stable_hash(payload)[:8]


@dataclass(frozen=True)
class ProfileChoice:
    """The profile a run names (None: each category's own) and its overrides."""

    name: str | None = None
    overrides: RunOverrides = field(default_factory=RunOverrides)

    def profile_id(self, base: str) -> str:
        """The identity results are stored under: the profile's name, or `<name>~<digest>` when overridden."""
        return f"{base}~{self.overrides.digest()}" if self.overrides else base

    def describe(self, base: str) -> str:
        return f"{base} with {', '.join(self.overrides.parts())}" if self.overrides else base

    def as_config_fields(self) -> dict[str, Any]:
        """The fields of a Dagster run's EvaluationConfig that carry this choice (see from_config)."""
        return {"profile": self.name,
                "overrides": json.dumps(asdict(self.overrides), sort_keys=True) if self.overrides else None}

    @classmethod
    def from_config(cls, name: str | None, overrides: str | None) -> ProfileChoice:
        raw = json.loads(overrides) if overrides else {}
        for key in ("gen_kwargs",):
            raw[key] = tuple(tuple(pair) for pair in raw.get(key, ()))
        raw["item_ids"] = tuple(raw.get("item_ids", ()))
        return cls(name, RunOverrides(**raw))


def parse_gen_kwargs(text: str | None) -> tuple[tuple[str, Any], ...]:
    """`key=value,...` (lm-eval's --gen_kwargs spelling accepted: max_gen_toks, until; several stop strings are
    separated by `|`), validated like a profile's gen_kwargs."""
    if not text:
        return ()
    raw: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = GEN_KWARG_ALIASES.get(key.strip(), key.strip())
        if not sep or not key:
            raise OverrideError(f"--gen-kwargs: {part!r} is not key=value")
        if key in raw:
            raise OverrideError(f"--gen-kwargs: {key} given twice")
        raw[key] = value.split("|") if key == "stop" else _scalar(value.strip())
    try:
        return GenerationOverrides.model_validate(raw).items()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors())
        raise OverrideError(f"--gen-kwargs: {problems}") from None


def _scalar(value: str) -> Any:
    """A number where the text is one (the model validates types strictly)."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def read_item_ids(path: Path) -> tuple[str, ...]:
    """Item ids from a file: a JSON list, or one id per line (blank lines and `#` comments ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverrideError(f"--items {path}: cannot read: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            ids = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OverrideError(f"--items {path}: not a JSON list: {exc}") from None
        if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
            raise OverrideError(f"--items {path}: expected a JSON list of item ids")
        ids = [str(i) for i in ids]
    else:
        ids = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise OverrideError(f"--items {path}: no item ids in the file")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise OverrideError(f"--items {path}: item id {duplicates[0]!r} is listed twice")
    return tuple(ids)


def unknown_items(wanted: Iterable[str], known: Iterable[str]) -> list[str]:
    present = set(known)
    return [item_id for item_id in wanted if item_id not in present]
