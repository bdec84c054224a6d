"""Log-likelihood scorer on transformers: each shared context is computed once and every continuation is scored
from it.

vLLM recomputes the whole prompt of each prompt-log-prob request (such requests never read its prefix cache), so a
question with four choices computes its context four times. Here the requests that share a context (the same
context token ids) become one packed row, `context | continuation 1 | continuation 2 | ...`: position ids restart
after the context for each continuation, and the attention mask lets each continuation token see the context and
its own continuation's earlier tokens only (a tree of depth one). A continuation's last token is a target, never
an input, so it is left out. One forward pass over the context + the continuations' tokens but their last then
gives, per continuation, exactly the distributions separate requests would; the output projection and the
(full-vocabulary) log-softmax run only at the positions that predict a continuation token. Rows of several
questions are batched (right-padded, longest first, at most `max_batch_tokens` padded tokens per forward pass).
On CPU the float32 linear layers run oneDNN's prepacked GEMM (`prepack_linear_layers`).

Token ids come from the encoding every backend shares (`tokenization.RequestTokenizer.encode_pair`,
lm-evaluation-harness's split), so requests whose context ids differ (a token spanning the context/continuation
boundary) are never packed together. Serves `loglikelihood` and `choice_logprobs` (a choice is a continuation, so
multi-token choices need no fallback); generation stays with vLLM (see `EngineSettings.backend_for`). Unquantized
single-device models only.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmeval_assets.engine.base import EngineError, InferenceEngine
from llmeval_assets.engine.fingerprint import transformers_version
from llmeval_assets.engine.requests import (
    ChoiceRequest,
    ChoiceResult,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
    Provenance,
)
from llmeval_assets.engine.tokenization import RequestTokenizer
from llmeval_assets.engine.vllm_engine import prompt_too_long
from llmeval_assets.engine.weights import Checkpoint
from llmeval_assets.registry.presets import EngineSettings

DEFAULT_MAX_BATCH_TOKENS = 1024  # prepacked, on CPU: faster than 512, 2048, 4096 (loglik_speed.py --max-batch-tokens)
PROJECTION_CHUNK = 256  # continuation positions projected onto the vocabulary at once
_TORCH_DTYPES = {"float32": "float32", "float": "float32", "bfloat16": "bfloat16", "float16": "float16",
                 "half": "float16"}


@dataclass
class _Row:
    """Requests sharing one context: the packed sequence context | continuation 1 | continuation 2 | ..."""

    context: list[int]
    continuations: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, token ids)

    @property
    def length(self) -> int:
        """Tokens fed: the context and each continuation but its last token (a target, never an input)."""
        return len(self.context) + sum(len(ids) - 1 for _, ids in self.continuations)


class TransformersEngine(InferenceEngine):
    """One model loaded with transformers for log-likelihood scoring. `close()` frees its memory."""

    def __init__(self, settings: EngineSettings, checkpoint: Checkpoint, *,
                 max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS, prepack_linears: bool = True) -> None:
        refusal = unsupported_reason(settings)
        if refusal:
            raise EngineError(f"model {settings.model_key!r}: the transformers backend cannot serve it: {refusal}")
        import torch
        import transformers

        self.settings = settings
        self.checkpoint = checkpoint
        self.max_batch_tokens = max_batch_tokens
        self.tokens_computed = 0  # packed prompt tokens run through the model (the benches read it)
        self._torch = torch
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype: Any = "auto" if settings.dtype == "auto" else getattr(torch, _TORCH_DTYPES[settings.dtype])
        started = time.perf_counter()
        try:
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(str(checkpoint.path))
            self._encoder = RequestTokenizer(self._tokenizer)
            model: Any = transformers.AutoModelForCausalLM.from_pretrained(str(checkpoint.path), dtype=dtype)
        except Exception as exc:  # transformers raises many types for a checkpoint it cannot load
            raise EngineError(f"transformers could not load model {settings.model_key!r} from {checkpoint.path}: "
                              f"{type(exc).__name__}: {exc}") from exc
        self._model: Any = model.to(self._device).eval()
        self._project: Any = self._model.get_output_embeddings()
        self.linear_kernel = "default"
        if self._device == "cpu" and prepack_linears and onednn_prepacking_works(torch):
            projection = prepack_linear_layers(self._model, torch)
            if projection is not None:
                self._project, self.linear_kernel = projection, "onednn-prepacked"
        self.load_seconds = time.perf_counter() - started
        self._softcap = getattr(model.config, "final_logit_softcapping", None)
        self._provenance = Provenance(
            model_key=settings.model_key, weights_revision=checkpoint.revision, backend="transformers",
            backend_version=transformers_version(),
            engine_args={"model": str(checkpoint.path), "dtype": settings.dtype, "device": self._device,
                         "max_model_len": settings.max_model_len, "max_batch_tokens": max_batch_tokens,
                         "linear_kernel": self.linear_kernel})

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    def tokenizer_fingerprint(self) -> dict[str, Any]:
        from llmeval_assets.engine.fingerprint import tokenizer_fingerprint

        return tokenizer_fingerprint(self.checkpoint.path)

    # ----------------------------------------------------------------------------------------------- requests

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        raise EngineError("the transformers backend scores log-likelihoods only; generation is served by vLLM "
                          "(EngineSettings.backend_for routes generation datasets there)")

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        started = time.perf_counter()
        pairs = [self._encoder.encode_pair(r.context, r.continuation) for r in requests]
        problems = [prompt_too_long(len(c) + len(x), self.settings.max_model_len) or
                    (None if x else "continuation is empty") for c, x in pairs]
        scored = self._score([pair if problem is None else None for pair, problem in zip(pairs, problems, strict=True)])
        results = []
        for index, request in enumerate(requests):
            context_ids, continuation_ids = pairs[index]
            tokens_in = len(context_ids) + len(continuation_ids)
            if problems[index] is not None:
                results.append(LoglikelihoodResult(
                    request_id=request.request_id, logprob=float("nan"), is_greedy=False, tokens_in=tokens_in,
                    continuation_tokens=0, latency_s=0.0, prompt_hash=request.prompt_hash(), error=problems[index]))
                continue
            logprob, is_greedy, finished = scored[index]
            results.append(LoglikelihoodResult(
                request_id=request.request_id, logprob=logprob, is_greedy=is_greedy, tokens_in=tokens_in,
                continuation_tokens=len(continuation_ids), latency_s=finished - started,
                prompt_hash=request.prompt_hash()))
        return results

    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        flat = [LoglikelihoodRequest(request_id=r.request_id, context=r.context, continuation=choice)
                for r in requests for choice in r.choices]
        scored = iter(self.loglikelihood(flat))
        results = []
        for request in requests:
            per_choice = [next(scored) for _ in request.choices]
            error = next((r.error for r in per_choice if r.error), None) or (None if per_choice else "no choices")
            results.append(ChoiceResult(
                request_id=request.request_id, logprobs=() if error else tuple(r.logprob for r in per_choice),
                tokens_in=max((r.tokens_in - r.continuation_tokens for r in per_choice), default=0),
                latency_s=max((r.latency_s for r in per_choice), default=0.0), prompt_hash=request.prompt_hash(),
                error=error))
        return results

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if not getattr(self._tokenizer, "chat_template", None):
            raise EngineError(
                f"model {self.settings.model_key!r} has no chat template; send plain prompts (prompt=...) instead")
        return str(self._tokenizer.apply_chat_template(list(messages), add_generation_prompt=add_generation_prompt,
                                                       tokenize=False))

    def close(self) -> None:
        """Release the model's memory. Safe to call twice."""
        model, self._model = getattr(self, "_model", None), None
        if model is None:
            return
        del model
        gc.collect()
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()

    # ----------------------------------------------------------------------------------------------- scoring

    def _score(self, pairs: Sequence[tuple[list[int], list[int]] | None]) -> dict[int, tuple[float, bool, float]]:
        """(log-likelihood, all tokens greedy, when it finished) per request index of the pairs that are set."""
        rows: dict[tuple[int, ...], _Row] = {}
        for index, pair in enumerate(pairs):
            if pair is not None:
                context_ids, continuation_ids = pair
                rows.setdefault(tuple(context_ids), _Row(list(context_ids))).continuations.append(
                    (index, continuation_ids))
        ordered = sorted(rows.values(), key=lambda row: row.length, reverse=True)
        scored: dict[int, tuple[float, bool, float]] = {}
        batch: list[_Row] = []
        for row in ordered:
            # longest first, so the batch's first row sets its padded length
            if batch and (len(batch) + 1) * batch[0].length > self.max_batch_tokens:
                scored.update(self._forward(batch))
                batch = []
            batch.append(row)
        if batch:
            scored.update(self._forward(batch))
        return scored

    def _forward(self, rows: Sequence[_Row]) -> dict[int, tuple[float, bool, float]]:
        if self._model is None:
            raise EngineError(f"engine for {self.settings.model_key!r} is closed")
        torch = self._torch
        width = rows[0].length
        input_ids = torch.zeros((len(rows), width), dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        allowed = torch.zeros((len(rows), width, width), dtype=torch.bool)
        picks: list[tuple[int, int, int, int]] = []  # (row, position whose output predicts, target token, request)
        for r, row in enumerate(rows):
            n = len(row.context)
            input_ids[r, :n] = torch.tensor(row.context)
            positions[r, :n] = torch.arange(n)
            allowed[r, :n, :n] = torch.ones((n, n), dtype=torch.bool).tril()
            start = n
            for request, ids in row.continuations:
                fed = ids[:-1]  # the last token predicts nothing that is scored: it is a target only
                end = start + len(fed)
                input_ids[r, start:end] = torch.tensor(fed, dtype=torch.long)
                positions[r, start:end] = torch.arange(n, n + len(fed))
                allowed[r, start:end, :n] = True
                allowed[r, start:end, start:end] = torch.ones((len(fed), len(fed)), dtype=torch.bool).tril()
                # token 0 is predicted by the context's last position, token i by the continuation's token i - 1
                predictors = [n - 1, *range(start, end)]
                picks.extend((r, p, token, request) for p, token in zip(predictors, ids, strict=True))
                start = end
            for pad in range(row.length, width):  # padding sees itself only (no fully masked softmax row)
                allowed[r, pad, pad] = True
        dtype = self._model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]
        device = self._device
        with torch.inference_mode():
            hidden = self._model.get_decoder()(
                input_ids=input_ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                use_cache=False).last_hidden_state
            row_index = torch.tensor([p[0] for p in picks], device=device)
            position_index = torch.tensor([p[1] for p in picks], device=device)
            targets = torch.tensor([p[2] for p in picks], device=device)
            predicting = hidden[row_index, position_index]
            token_logprobs, greedy = [], []
            # vocabulary-sized rows in chunks: a whole batch's would be hundreds of MB written and read back
            for start in range(0, len(picks), PROJECTION_CHUNK):
                chunk = slice(start, start + PROJECTION_CHUNK)
                logits = self._project(predicting[chunk]).float()
                if self._softcap:
                    logits = torch.tanh(logits / self._softcap) * self._softcap
                # log_softmax, not logit - logsumexp: the latter differs from lm-eval's by up to 5e-4 per request
                token_logprobs += torch.log_softmax(logits, dim=-1).gather(1, targets[chunk, None])[:, 0].tolist()
                greedy += (logits.argmax(dim=-1) == targets[chunk]).tolist()
        self.tokens_computed += sum(row.length for row in rows)
        finished = time.perf_counter()
        totals: dict[int, tuple[float, bool, float]] = {}
        for (_, _, _, request), logprob, is_greedy in zip(picks, token_logprobs, greedy, strict=True):
            total, all_greedy, _ = totals.get(request, (0.0, True, finished))
            totals[request] = (total + logprob, all_greedy and is_greedy, finished)
        return totals


def unsupported_reason(settings: EngineSettings) -> str | None:
    """Why the transformers backend cannot load this model (None when it can)."""
    if settings.quantization:
        return f"quantization {settings.quantization!r} (it loads unquantized weights only)"
    if settings.tensor_parallel_size > 1 or settings.pipeline_parallel_size > 1:
        return (f"tensor_parallel_size {settings.tensor_parallel_size} x pipeline_parallel_size "
                f"{settings.pipeline_parallel_size} (it runs on one device)")
    if settings.dtype != "auto" and settings.dtype not in _TORCH_DTYPES:
        return f"dtype {settings.dtype!r}"
    return None


def onednn_prepacking_works(torch: Any) -> bool:
    """Whether this torch build has oneDNN's prepacked linear (the kernel torch.compile's CPU freezing uses)."""
    mkldnn = getattr(torch.ops, "mkldnn", None)
    if not torch.backends.mkldnn.is_available() or mkldnn is None:
        return False
    try:
        probe = torch.ones(2, 3)
        packed = mkldnn._reorder_linear_weight(probe, None)
        return bool(torch.equal(mkldnn._linear_pointwise(probe, packed, None, "none", [], ""), probe @ probe.T))
    except (AttributeError, RuntimeError):
        return False


def prepack_linear_layers(model: Any, torch: Any) -> Any | None:
    """Swap the model's float32 `nn.Linear` layers for oneDNN's prepacked kernel and return the output projection
    (prepacked too), or None, with the model unchanged, when the model's code does not run with them (it may read
    a layer's `weight`). On this project's CPU its GEMM ran 1.4-1.9x the default BLAS path's rate on SmolLM2's
    shapes, with float32 results equal to rounding."""

    class PrepackedLinear(torch.nn.Module):
        def __init__(self, linear: Any) -> None:
            super().__init__()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)
            self.bias = None if linear.bias is None else linear.bias.detach()

        def forward(self, x: Any) -> Any:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def packable(layer: Any) -> bool:
        return type(layer) is torch.nn.Linear and layer.weight.dtype == torch.float32

    output = model.get_output_embeddings()
    if not packable(output):
        return None
    swapped = []  # (parent, name, original layer)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if packable(child) and child is not output:  # the output layer stays: a tied embedding shares its weight
                setattr(parent, name, PrepackedLinear(child))
                swapped.append((parent, name, child))
    try:
        with torch.inference_mode():
            model.get_decoder()(input_ids=torch.zeros((1, 2), dtype=torch.long), use_cache=False)
    except Exception:  # noqa: BLE001 - arbitrary model code: any failure means "keep the layers it was written for"
        for parent, name, child in swapped:
            setattr(parent, name, child)
        return None
    return PrepackedLinear(output)
