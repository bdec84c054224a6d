"""OpenAI-compatible backend: a `vllm serve` endpoint or any server speaking the OpenAI REST API.

Requests go out concurrently (at most `concurrency` in flight, a thread pool over one httpx client); 429, 5xx and
connection failures are retried with exponential backoff (honouring Retry-After); other 4xx answers become that
request's `error`. A server that cannot be reached at all raises EngineError("cannot reach <url>: ...").

What the API allows, and how:
- generate: `messages` go to /chat/completions (the server applies the model's chat template), `prompt` to
  /completions. Greedy with n > 1 asks once and repeats the completion (as VLLMEngine does). With n > 1 the server
  reports only the total completion tokens, so each completion's `tokens_out` is that total / n.
- loglikelihood: /completions with echo=True, max_tokens=0, logprobs=1 on context + continuation (lm-eval's
  "local-completions"). Trailing context whitespace moves into the continuation as in VLLMEngine; the
  continuation is the tokens whose text offset is at or past the end of the context. (VLLMEngine splits by token
  count instead; the two agree unless one token spans the boundary.) is_greedy compares each token with the
  top-1 alternative the server reports.
- choice_logprobs: one log-likelihood request per choice (the API gives no log-probs of chosen token ids), and,
  like VLLMEngine, a request with a choice longer than one token is refused.
- apply_chat_template: not available over the API (the server renders templates itself); raises EngineError.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from llmeval_assets.engine.base import EngineError, InferenceEngine
from llmeval_assets.engine.requests import (
    ChoiceRequest,
    ChoiceResult,
    Completion,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
    Provenance,
)

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_Request = TypeVar("_Request")
_Result = TypeVar("_Result")


class RequestRejected(Exception):
    """The server answered a request with a non-retryable error (e.g. 400: prompt longer than the context)."""


class OpenAIEngine(InferenceEngine):
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        model_key: str | None = None,
        api_key: str | None = None,
        concurrency: int = 16,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 600.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_key = model_key or model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai-engine")
        try:
            served = self._request("GET", "/models")
        except RequestRejected as exc:  # e.g. 401: a wrong API key
            self.close()
            raise EngineError(str(exc)) from exc
        except EngineError:
            self.close()
            raise
        served_ids = [entry.get("id") for entry in served.get("data", [])]
        if served_ids and model not in served_ids:
            self.close()
            raise EngineError(f"{self.base_url} does not serve model {model!r}; it serves {served_ids}")
        self._provenance = Provenance(
            model_key=self.model_key,
            weights_revision=f"served:{model}",  # the API does not say which weights revision it serves
            backend="openai",
            backend_version=self._server_version(),
            engine_args={"base_url": self.base_url, "model": model, "concurrency": concurrency},
        )

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    def tokenizer_fingerprint(self) -> dict[str, Any]:
        # the server tokenizes and renders chat templates; what it serves is all this side can name
        return {"served_model": self.model, "base_url": self.base_url}

    # ----------------------------------------------------------------------------------------------- requests

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        return self._map(self._generate_one, requests)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self._map(self._loglikelihood_one, requests)

    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        singles = [
            LoglikelihoodRequest(f"{request.request_id}#{i}", request.context, choice)
            for request in requests
            for i, choice in enumerate(request.choices)
        ]
        scored = iter(self.loglikelihood(singles))
        results = []
        for request in requests:
            per_choice = [next(scored) for _ in request.choices]
            error = next((r.error for r in per_choice if r.error), None) or next(
                (
                    f"choice {choice!r} is {r.continuation_tokens} tokens; single-pass scoring needs single-token "
                    "choices (send loglikelihood requests instead)"
                    for choice, r in zip(request.choices, per_choice, strict=True)
                    if r.continuation_tokens != 1
                ),
                None,
            )
            results.append(
                ChoiceResult(
                    request_id=request.request_id,
                    logprobs=() if error else tuple(r.logprob for r in per_choice),
                    tokens_in=max((r.tokens_in - r.continuation_tokens for r in per_choice), default=0),
                    latency_s=max((r.latency_s for r in per_choice), default=0.0),
                    prompt_hash=request.prompt_hash(),
                    error=error if request.choices else "no choices",
                )
            )
        return results

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        raise EngineError(
            f"the openai backend ({self.base_url}) cannot render chat templates; send messages in generate requests"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    # ----------------------------------------------------------------------------------------------- one request

    def _generate_one(self, request: GenerateRequest) -> GenerateResult:
        sampling = request.sampling
        greedy = sampling.temperature == 0.0
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "n": 1 if greedy else sampling.n,
            "seed": sampling.seed,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        started = time.perf_counter()
        try:
            if request.messages is not None:
                response = self._request("POST", "/chat/completions", {**body, "messages": list(request.messages)})
                texts = [(c["message"]["content"] or "", c.get("finish_reason")) for c in response["choices"]]
            else:
                response = self._request("POST", "/completions", {**body, "prompt": request.prompt})
                texts = [(c["text"], c.get("finish_reason")) for c in response["choices"]]
        except RequestRejected as exc:
            return GenerateResult(
                request.request_id, (), 0, time.perf_counter() - started, request.prompt_hash(),
                sampling.as_dict(), error=str(exc),
            )
        usage = response.get("usage") or {}
        tokens_out = round((usage.get("completion_tokens") or 0) / len(texts))
        completions = tuple(Completion(text, finish, tokens_out) for text, finish in texts)
        return GenerateResult(
            request_id=request.request_id,
            completions=completions * sampling.n if greedy else completions,
            tokens_in=usage.get("prompt_tokens") or 0,
            latency_s=time.perf_counter() - started,
            prompt_hash=request.prompt_hash(),
            sampling=sampling.as_dict(),
        )

    def _loglikelihood_one(self, request: LoglikelihoodRequest) -> LoglikelihoodResult:
        context = request.context.rstrip()
        continuation = request.context[len(context) :] + request.continuation
        started = time.perf_counter()
        body = {
            "model": self.model,
            "prompt": context + continuation,
            "echo": True,
            "max_tokens": 0,
            "logprobs": 1,
            "temperature": 0.0,
        }
        try:
            response = self._request("POST", "/completions", body)
        except RequestRejected as exc:
            return LoglikelihoodResult(
                request.request_id, math.nan, False, 0, 0, time.perf_counter() - started, request.prompt_hash(),
                error=str(exc),
            )
        logprobs = response["choices"][0]["logprobs"]
        positions = [i for i, offset in enumerate(logprobs["text_offset"]) if offset >= len(context)]
        # With an empty context the first token has no log-prob (nothing predicts it): it cannot be scored.
        if not positions or logprobs["token_logprobs"][positions[0]] is None:
            error = "continuation is empty" if not positions else "empty context: the server cannot score token 0"
            return LoglikelihoodResult(
                request.request_id, math.nan, False, len(logprobs["tokens"]), 0, time.perf_counter() - started,
                request.prompt_hash(), error=error,
            )
        total, is_greedy = 0.0, True
        for position in positions:
            token_logprob = logprobs["token_logprobs"][position]
            total += token_logprob
            top = logprobs["top_logprobs"][position] or {}
            is_greedy = is_greedy and token_logprob >= max(top.values(), default=token_logprob) - 1e-6
        return LoglikelihoodResult(
            request_id=request.request_id,
            logprob=total,
            is_greedy=is_greedy,
            tokens_in=len(logprobs["tokens"]),
            continuation_tokens=len(positions),
            latency_s=time.perf_counter() - started,
            prompt_hash=request.prompt_hash(),
        )

    # ----------------------------------------------------------------------------------------------- transport

    def _map(self, one: Callable[[_Request], _Result], requests: Sequence[_Request]) -> list[_Result]:
        """All requests at once, at most `concurrency` in flight; results in request order."""
        return list(self._pool.map(one, requests))

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call with retries. Raises RequestRejected for a non-retryable answer, EngineError when the
        server stays unreachable or failing after all retries."""
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            final = attempt == self.max_retries
            try:
                response = self._client.request(method, path, json=body)
            except httpx.TransportError as exc:
                if final:
                    raise EngineError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
                time.sleep(self.backoff_s * 2**attempt)
                continue
            if response.status_code < 400:
                return response.json()
            if response.status_code not in RETRYABLE_STATUS:
                raise RequestRejected(f"{url} answered {response.status_code}: {_error_message(response)}")
            if final:
                raise EngineError(
                    f"{url} kept failing: {response.status_code} {_error_message(response)} "
                    f"after {self.max_retries + 1} attempts"
                )
            time.sleep(_retry_after(response) or self.backoff_s * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _server_version(self) -> str:
        """vLLM's server reports its version at /version (outside /v1); other servers may not."""
        root = self.base_url.removesuffix("/v1")
        try:
            response = self._client.get(f"{root}/version")
            return f"vllm {response.json()['version']}" if response.status_code == 200 else "unknown"
        except (httpx.HTTPError, ValueError, KeyError):
            return "unknown"


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    message = error.get("message", error) if isinstance(error, dict) else error
    return str(message)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
