"""The transformers log-likelihood scorer (each shared context computed once) against the vLLM path on SmolLM2 in
float32, and the routing of log-likelihood datasets to it (registry preset, EngineResource, fingerprint, plan)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from llmeval_assets.engine.base import EngineError
from llmeval_assets.engine.requests import ChoiceRequest, GenerateRequest, LoglikelihoodRequest, Sampling
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.engine.transformers_engine import (
    TransformersEngine,
    onednn_prepacking_works,
    prepack_linear_layers,
)
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


def test_each_context_is_fed_once_and_no_continuation_feeds_its_last_token(scorer):
    arc = REQUESTS[:4]
    pairs = [scorer._encoder.encode_pair(r.context, r.continuation) for r in arc]
    assert len({tuple(context) for context, _ in pairs}) == 1
    before = scorer.tokens_computed
    scorer.loglikelihood(arc)
    assert scorer.tokens_computed - before == len(pairs[0][0]) + sum(len(ids) - 1 for _, ids in pairs)


def test_the_prepacked_kernel_gives_the_default_kernels_loglikelihoods(scorer, smollm2_checkpoint):
    assert scorer.linear_kernel == "onednn-prepacked"
    assert scorer.provenance.engine_args["linear_kernel"] == "onednn-prepacked"
    default = TransformersEngine(cpu_settings("smollm2_135m", 2048), smollm2_checkpoint, max_batch_tokens=96,
                                 prepack_linears=False)
    try:
        assert default.linear_kernel == "default"
        reference = default.loglikelihood(REQUESTS)
    finally:
        default.close()
    fast = scorer.loglikelihood(REQUESTS)
    assert [r.logprob for r in fast] == pytest.approx([r.logprob for r in reference], abs=1e-4)
    assert [r.is_greedy for r in fast] == [r.is_greedy for r in reference]


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


class _Decoder(torch.nn.Module):
    def __init__(self, reads_weight: bool) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(8, 4)
        self.proj = torch.nn.Linear(4, 4)
        self.reads_weight = reads_weight

    def forward(self, input_ids: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        hidden = self.embed(input_ids)
        return hidden @ self.proj.weight.T if self.reads_weight else self.proj(hidden)


class _CausalLM(torch.nn.Module):
    def __init__(self, reads_weight: bool) -> None:
        super().__init__()
        self.decoder = _Decoder(reads_weight)
        self.head = torch.nn.Linear(4, 8, bias=False)

    def get_decoder(self) -> _Decoder:
        return self.decoder

    def get_output_embeddings(self) -> torch.nn.Linear:
        return self.head


def test_prepacking_keeps_the_layers_of_a_model_whose_code_reads_their_weights():
    assert onednn_prepacking_works(torch)
    plain = _CausalLM(reads_weight=False)
    hidden = torch.randn(3, 4)
    projection = prepack_linear_layers(plain, torch)
    assert projection is not None and type(plain.decoder.proj) is not torch.nn.Linear
    assert torch.allclose(projection(hidden), plain.head(hidden), atol=1e-6)
    assert plain.head.weight is not None  # the output layer itself stays (a tied embedding may share it)

    reads = _CausalLM(reads_weight=True)
    original = reads.decoder.proj
    assert prepack_linear_layers(reads, torch) is None
    assert reads.decoder.proj is original
