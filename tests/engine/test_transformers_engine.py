"""The transformers log-likelihood scorer (each shared context computed once) against the vLLM path on SmolLM2 in
float32, and the routing of log-likelihood datasets to it (registry preset, EngineResource, fingerprint, plan)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from llmeval_assets.engine.base import EngineError
from llmeval_assets.engine.requests import ChoiceRequest, GenerateRequest, LoglikelihoodRequest, Sampling
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.engine.transformers_engine import TransformersEngine
from llmeval_assets.registry import default_registry_dir, load_registry

from .conftest import cpu_settings

ARC_CONTEXT = "Question: Which gas do plants take in from the air to make food?\nAnswer:"
HELLASWAG_CONTEXT = "Roof shingle removal: A man is sitting on a roof. He"
REQUESTS = [
    # one context, four multi-token continuations of different lengths (packed into one row)
    *(LoglikelihoodRequest(f"arc#{i}", ARC_CONTEXT, choice) for i, choice in
      enumerate((" oxygen", " carbon dioxide", " nitrogen gas from the soil", " water vapour"))),
    *(LoglikelihoodRequest(f"hs#{i}", HELLASWAG_CONTEXT, ending) for i, ending in
      enumerate((" is using wrap to wrap a pair of skis.", " is ripping level tiles off.",
                 " is holding a rubik's cube.", " starts pulling up roofing on a roof."))),
    # trailing whitespace moves into the continuation; a token may span the boundary (" 42" after "is ")
    LoglikelihoodRequest("space#0", "The answer is ", "42"),
    LoglikelihoodRequest("space#1", "The answer is ", " 42"),
    LoglikelihoodRequest("empty#0", "", "Hello world"),  # the BOS/EOS token predicts the continuation
]


@pytest.fixture(scope="module")
def scorer(smollm2_checkpoint) -> Iterator[TransformersEngine]:
    # a small batch budget, so these few requests span several forward passes with padding
    engine = TransformersEngine(cpu_settings("smollm2_135m", 2048), smollm2_checkpoint, max_batch_tokens=96)
    yield engine
    engine.close()


@pytest.mark.vllm
def test_loglikelihoods_equal_the_vllm_path_in_float32(scorer, smollm2_engine):
    fast = scorer.loglikelihood(REQUESTS)
    reference = smollm2_engine.loglikelihood(REQUESTS)
    for mine, theirs in zip(fast, reference, strict=True):
        assert mine.error is None and theirs.error is None
        assert mine.request_id == theirs.request_id
        assert mine.logprob == pytest.approx(theirs.logprob, abs=1e-4), mine.request_id
        assert (mine.is_greedy, mine.tokens_in, mine.continuation_tokens) == (
            theirs.is_greedy, theirs.tokens_in, theirs.continuation_tokens)
    # the shared contexts were computed once: fewer tokens than the requests' prompts summed
    assert scorer.tokens_computed < sum(r.tokens_in for r in reference)

    letters = [ChoiceRequest("mmlu", "Question: 2 + 2 = ?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:", (" A", " B", " C", " D"))]
    (mine,), (theirs,) = scorer.choice_logprobs(letters), smollm2_engine.choice_logprobs(letters)
    assert theirs.error is None and mine.logprobs == pytest.approx(theirs.logprobs, abs=1e-4)


def test_results_do_not_depend_on_batching(scorer, smollm2_checkpoint):
    """Each request alone (no packing, no padding) gives the packed results."""
    packed = scorer.loglikelihood(REQUESTS)
    alone = [scorer.loglikelihood([request])[0] for request in REQUESTS]
    assert [r.logprob for r in packed] == pytest.approx([r.logprob for r in alone], abs=1e-4)
    assert [r.is_greedy for r in packed] == [r.is_greedy for r in alone]


def test_per_request_problems_and_refusals(scorer, smollm2_checkpoint):
    too_long, empty, fine = scorer.loglikelihood([
        LoglikelihoodRequest("long", "word " * 3000, " end"), LoglikelihoodRequest("empty", "Hi", ""),
        LoglikelihoodRequest("fine", "Hi", " there")])
    assert "max_model_len is 2048" in (too_long.error or "")
    assert empty.error == "continuation is empty"
    assert fine.error is None and fine.logprob < 0
    with pytest.raises(EngineError, match="log-likelihoods only"):
        scorer.generate([GenerateRequest("g", Sampling(), prompt="Hi")])
    with pytest.raises(EngineError, match="tensor_parallel_size 2"):
        TransformersEngine(cpu_settings("smollm2_135m", 2048, tensor_parallel_size=2), smollm2_checkpoint)


@pytest.fixture(scope="module")
def fast_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's registry with SmolLM2's own preset set to loglikelihood_fast."""
    root = tmp_path_factory.mktemp("registry")
    for source in default_registry_dir().glob("*.yaml"):
        shutil.copy(source, root)
    models = yaml.safe_load((root / "models.yaml").read_text())
    models["models"]["smollm2_135m"]["preset"] = "loglikelihood_fast"
    (root / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    return root


def test_the_preset_routes_loglikelihood_datasets_and_the_fingerprint_says_so(fast_registry):
    from llmeval_assets.planning import build_plan

    registry = load_registry(fast_registry)
    settings = registry.engine_settings("smollm2_135m")
    assert [settings.backend_for(kind) for kind in ("loglikelihood", "choice", "generate")] == [
        "transformers", "transformers", "vllm"]
    assert load_registry().engine_settings("smollm2_135m").backend_for("loglikelihood") == "vllm"  # the default

    resource = EngineResource(registry_dir=str(fast_registry), device="cpu", dtype="float32")
    fast, vllm = resource.fingerprint("smollm2_135m", None, "loglikelihood"), resource.fingerprint("smollm2_135m")
    assert fast["backend"] == "transformers" and vllm["backend"].startswith("vllm")
    assert {k: v for k, v in fast.items() if not k.startswith("backend")} == {
        k: v for k, v in vllm.items() if not k.startswith("backend")}

    plan = build_plan(registry, model="smollm2_135m", dataset="hellaswag")
    assert [p.backend for p in plan.partitions] == ["transformers"]


def test_the_resource_loads_the_scorer_once_for_loglikelihood_kinds(fast_registry):
    resource = EngineResource(registry_dir=str(fast_registry), device="cpu", dtype="float32")
    before = EngineResource.constructions["smollm2_135m"]
    try:
        engine = resource.get_engine("smollm2_135m", None, "loglikelihood")
        assert isinstance(engine, TransformersEngine)
        assert resource.get_engine("smollm2_135m", None, "choice") is engine  # same backend: no second load
        assert EngineResource.constructions["smollm2_135m"] == before + 1
    finally:
        resource.close()
    assert engine._model is None  # closed before anything else could load
