"""Models evaluated without editing the registry: `--model hf:ORG/NAME[@REVISION]` or `--model ./path/to/checkpoint`.

The CLI turns such a reference into a registry entry (its facts read from the checkpoint's config.json and
safetensors headers, or the hub; `--model-args` gives or overrides them), enrols it in the categories whose
datasets the run asks for, and records both in `<LLMEVAL_HOME>/adhoc_models.yaml`. `load_registry` adds that
file's entries to the registry's and validates them with the same rules (fit, parallelism, capabilities), so the
Dagster pipeline, `plan` and reports see the model like any other; the registry files are never touched.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ADHOC_FILE = "adhoc_models.yaml"
HUB_PREFIX = "hf:"
# --model-args keys and the registry field each sets
MODEL_ARGS = {"display_name": "display_name", "dtype": "dtype", "max_model_len": "max_model_len",
              "tensor_parallel_size": "tensor_parallel_size",
              "pipeline_parallel_size": "pipeline_parallel_size", "params_b": "params_b",
              "context_window": "context_window", "instruct": "instruct", "quantization": "quantization",
              "gpu_memory_utilization": "gpu_memory_utilization"}
_BOOLEANS = {"true": True, "false": False}


class AdhocModelError(ValueError):
    """A --model reference or --model-args value cannot become a registry entry (the message says why)."""


@dataclass(frozen=True)
class AdhocModel:
    key: str  # the registry key results are stored under
    entry: dict[str, Any]  # a models.yaml entry, validated by the registry loader


def is_adhoc_reference(name: str) -> bool:
    """hf:ORG/NAME[@REV], or a path (./x, ../x, /x, ~/x, or an existing directory)."""
    return name.startswith((HUB_PREFIX, "./", "../", "/", "~")) or Path(name).is_dir()


def parse_model_args(text: str | None) -> dict[str, Any]:
    """`key=value,...` of MODEL_ARGS; numbers and true/false are typed, the registry schema checks the rest."""
    if not text:
        return {}
    args: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key:
            raise AdhocModelError(f"--model-args: {part!r} is not key=value")
        field = MODEL_ARGS.get(key)
        if field is None:
            raise AdhocModelError(f"--model-args: unknown key {key!r}; known: {', '.join(MODEL_ARGS)}")
        args[field] = _typed(value)
    return args


def _typed(value: str) -> Any:
    if value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def adhoc_key(reference: str) -> str:
    """The registry key the results of a --model reference are stored under (nothing is read)."""
    if reference.startswith(HUB_PREFIX):
        return _key("hf", reference[len(HUB_PREFIX):].partition("@")[0])
    return _key("local", Path(reference).expanduser().absolute().name)


def adhoc_model(reference: str, model_args: dict[str, Any], token: str | None = None) -> AdhocModel:
    """The registry entry of a --model reference (see the module docstring); `token` reaches gated hub repos."""
    if reference.startswith(HUB_PREFIX):
        repo, _, revision = reference[len(HUB_PREFIX):].partition("@")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise AdhocModelError(f"--model {reference!r}: expected hf:ORG/NAME[@REVISION]")
        facts = _hub_facts(repo, revision or None, token)
        entry: dict[str, Any] = {"display_name": repo, "hf_id": repo, **({"revision": revision} if revision else {})}
    else:
        path = Path(reference).expanduser().absolute()  # as named: a symlinked checkpoint keeps its name
        if not (path / "config.json").is_file():
            raise AdhocModelError(f"--model {reference!r}: {path} is not a checkpoint directory (no config.json)")
        facts = _local_facts(path)
        entry = {"display_name": path.name, "hf_id": None, "local_path": str(path)}
    entry.update({"kind": "decoder", "license": "unknown (evaluated ad hoc)", "dtype": "bfloat16", **facts,
                  **model_args})
    if entry.get("params_b") is None:
        raise AdhocModelError(f"--model {reference!r}: the parameter count is unknown here (no safetensors "
                              "headers to read); give it: --model-args params_b=<billions>")
    if entry.get("context_window") is None:
        raise AdhocModelError(f"--model {reference!r}: the context window is unknown here (no "
                              "max_position_embeddings in a config.json); give it: "
                              "--model-args context_window=<tokens>")
    if entry.get("instruct") is None:
        raise AdhocModelError(f"--model {reference!r}: whether it has a chat template is unknown here; give it: "
                              "--model-args instruct=true|false")
    entry.setdefault("max_model_len", min(int(entry["context_window"]), 32768))
    entry["notes"] = [f"evaluated ad hoc from {reference} (not in registry/models.yaml)"]
    return AdhocModel(adhoc_key(reference), entry)


def _key(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}"


def _config_facts(config: dict[str, Any]) -> dict[str, Any]:
    text = config.get("text_config") or {}
    positions = config.get("max_position_embeddings") or text.get("max_position_embeddings")
    return {"context_window": positions} if positions else {}


def _local_facts(path: Path) -> dict[str, Any]:
    config = json.loads((path / "config.json").read_text())
    facts: dict[str, Any] = _config_facts(config)
    parameters = sum(_safetensors_parameters(f) for f in sorted(path.glob("*.safetensors")))
    if parameters:
        facts["params_b"] = round(parameters / 1e9, 6)
    tokenizer_config = path / "tokenizer_config.json"
    template = (path / "chat_template.jinja").is_file() or (
        tokenizer_config.is_file() and bool(json.loads(tokenizer_config.read_text()).get("chat_template")))
    facts["instruct"] = template  # a chat template is what the chat variants need
    return facts


def _safetensors_parameters(file: Path) -> int:
    """Elements of every tensor in a safetensors file, from its JSON header (no tensor is read)."""
    with file.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    total = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for size in tensor["shape"]:
            count *= size
        total += count
    return total


def _hub_facts(repo: str, revision: str | None, token: str | None) -> dict[str, Any]:
    """Parameter count and context window from the hub (model info and config.json); {} when it cannot be reached
    (then --model-args must give them)."""
    facts: dict[str, Any] = {}
    try:
        from huggingface_hub import HfApi, hf_hub_download

        info = HfApi(token=token).model_info(repo, revision=revision, timeout=10.0)
        if info.safetensors and info.safetensors.total:
            facts["params_b"] = round(info.safetensors.total / 1e9, 3)
        config = json.loads(Path(hf_hub_download(repo, "config.json", revision=revision, token=token)).read_text())
        facts.update(_config_facts(config))
        tokenizer = json.loads(Path(hf_hub_download(repo, "tokenizer_config.json", revision=revision,
                                                    token=token)).read_text())
        facts["instruct"] = bool(tokenizer.get("chat_template"))
        facts["gated"] = bool(getattr(info, "gated", False))
    except Exception:  # noqa: BLE001 - an unreachable or refusing hub leaves the facts to --model-args
        return facts
    return facts


def read_adhoc(path: Path) -> dict[str, Any]:
    """{"models": {key: entry}, "memberships": {key: [category, ...]}} of an ad-hoc file ({} when absent)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AdhocModelError(f"{path}: unreadable ad-hoc model file ({exc}); delete it to start afresh") from None
    return data if isinstance(data, dict) else {}


def forget_adhoc(path: Path, key: str) -> None:
    """Remove a model and its memberships from the ad-hoc file."""
    data = read_adhoc(path)
    (data.get("models") or {}).pop(key, None)
    (data.get("memberships") or {}).pop(key, None)
    _write(path, data)


def record_adhoc(path: Path, model: AdhocModel, categories: list[str]) -> None:
    """Add (or replace) the model and its memberships in the ad-hoc file, atomically."""
    data = read_adhoc(path)
    data.setdefault("models", {})[model.key] = model.entry
    memberships = data.setdefault("memberships", {})
    memberships[model.key] = sorted(set(memberships.get(model.key, [])) | set(categories))
    _write(path, data)


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("# written by `llmeval evaluate --model hf:...|./path`; not the registry\n"
                       + yaml.safe_dump(data, sort_keys=True))
    partial.replace(path)
