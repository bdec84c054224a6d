"""Reading the registry YAML files: duplicate keys are errors (PyYAML silently keeps the last one, which is how the
seed's duplicate `llama31_8b` overrode the first definition), and every problem names file, key and field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

# registry keys name folders (results lake, model cache, dataset snapshots): nothing that could leave them
PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

REGISTRY_FILES = {
    "models": "models.yaml",
    "categories": "categories.yaml",
    "datasets": "datasets.yaml",
    "presets": "presets.yaml",
    "profiles": "profiles.yaml",
    "hardware": "hardware.yaml",
}


@dataclass(frozen=True)
class Problem:
    """One registry problem: where it is and what is wrong."""

    file: str  # e.g. "models.yaml"
    key: str  # entry key, e.g. "llama31_70b" (or "" for file-level problems)
    field: str  # e.g. "tensor_parallel_size" (or "")
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.key:
            where += f": {self.key}"
            if self.field:
                where += f".{self.field}"
        elif self.field:  # a file holding a single entry (hardware.yaml)
            where += f": {self.field}"
        return f"{where}: {self.message}"


class RegistryError(ValueError):
    """The registry is invalid; nothing of it was loaded. `problems` lists every error found."""

    def __init__(self, registry_dir: Path, problems: list[Problem]):
        self.registry_dir = registry_dir
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid registry {registry_dir} ({len(problems)} problem(s)):\n{lines}")


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first defined on line {seen[key] + 1}); YAML would silently keep only "
                f"the last one",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_section(registry_dir: Path, section: str, problems: list[Problem],
                 filename: str | None = None) -> dict[str, Any]:
    """The mapping under the file's top-level `section:` key, or {} after recording a problem."""
    filename = filename or REGISTRY_FILES[section]
    path = registry_dir / filename
    if not path.is_file():
        problems.append(Problem(filename, "", "", f"file not found in {registry_dir}"))
        return {}
    data = path.read_bytes()
    try:
        document = yaml.load(data.decode("utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        bad_line = data[:exc.start].count(b"\n") + 1
        problems.append(Problem(filename, "", "", f"line {bad_line}: not UTF-8 (byte 0x{data[exc.start]:02x} at "
                                                  f"offset {exc.start}); save the file as UTF-8"))
        return {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        detail = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(filename, "", "", f"{line}{detail}"))
        return {}
    if not isinstance(document, dict) or not isinstance(document.get(section), dict):
        problems.append(Problem(filename, "", "", f"expected a top-level mapping `{section}:`"))
        return {}
    return document[section]


def parse_entries(filename: str, raw: dict[str, Any], schema: type[BaseModel],
                  problems: list[Problem]) -> dict[str, Any]:
    """Validate each entry against its pydantic schema; invalid entries are reported and left out."""
    entries: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not PLAIN_KEY.fullmatch(key):
            problems.append(Problem(filename, repr(key) if isinstance(key, str) else str(key), "",
                                    "a key is a plain name (letters, digits, '_', '.', '-'; starting with a letter "
                                    "or digit): keys become folder names under the results and the model cache"))
            continue
        if value is None:
            problems.append(Problem(filename, key, "", "entry is empty"))
            continue
        try:
            entries[key] = schema.model_validate(value)
        except ValidationError as exc:
            problems.extend(Problem(filename, key, ".".join(str(part) for part in err["loc"]), _message(err))
                            for err in exc.errors())
    return entries


def parse_single(filename: str, raw: dict[str, Any], schema: type[BaseModel], problems: list[Problem]) -> Any:
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        problems.extend(Problem(filename, "", ".".join(str(p) for p in err["loc"]), _message(err))
                        for err in exc.errors())
        return None


def _message(err: Any) -> str:
    """A pydantic error in the registry's words, with the value it got."""
    if err["type"] == "extra_forbidden":
        return "unknown field (typo?)"
    if "input" in err and err["type"] != "missing" and not isinstance(err["input"], dict):
        return f"{err['msg']} (got {err['input']!r})"
    return str(err["msg"])
