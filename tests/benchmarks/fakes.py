"""A deterministic fake inference engine for benchmark tests (the real vLLM engine is tested elsewhere).

Each request kind is answered by a plain function you pass in, from the request to the bare value:

    engine = FakeEngine(generate=lambda r: "The answer is 42.")           # str, or a list of str for n > 1
    engine = FakeEngine(loglikelihood=lambda r: -len(r.continuation))     # float (summed log-probability)
    engine = FakeEngine(choice=lambda r: [0.0, -1.0, -2.0, -3.0])         # one float per choice

The engine wraps the values into the real result types and records every request in `engine.requests`, so a test
can assert on the prompts a benchmark built. Unset functions answer "" / 0.0 / all-zero logprobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmeval_assets.engine.base import InferenceEngine
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
    Request,
)

GenerateFn = Callable[[GenerateRequest], "str | Sequence[str]"]
LoglikelihoodFn = Callable[[LoglikelihoodRequest], float]
ChoiceFn = Callable[[ChoiceRequest], Sequence[float]]


def render_fake_chat(messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
    """A fixed, visible chat format, so tests can check where the chat template was applied."""
    text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
    return text + ("<|assistant|>\n" if add_generation_prompt else "")


class FakeEngine(InferenceEngine):
    def __init__(self, generate: GenerateFn | None = None, loglikelihood: LoglikelihoodFn | None = None,
                 choice: ChoiceFn | None = None, model_key: str = "fake", weights_revision: str = "none") -> None:
        self._model = (model_key, weights_revision)
        self._generate = generate or (lambda request: "")
        self._loglikelihood = loglikelihood or (lambda request: 0.0)
        self._choice = choice or (lambda request: [0.0] * len(request.choices))
        self.requests: list[Request] = []

    @property
    def provenance(self) -> Provenance:
        return Provenance(model_key=self._model[0], weights_revision=self._model[1], backend="fake",
                          backend_version="0")

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        self.requests.extend(requests)
        results = []
        for request in requests:
            texts = self._generate(request)
            texts = [texts] * request.sampling.n if isinstance(texts, str) else list(texts)
            if len(texts) != request.sampling.n:
                raise ValueError(f"fake generate returned {len(texts)} texts for n={request.sampling.n}")
            completions = tuple(Completion(text=t, finish_reason="stop", tokens_out=len(t.split())) for t in texts)
            prompt = request.prompt if request.prompt is not None else render_fake_chat(request.messages)
            results.append(GenerateResult(request_id=request.request_id, completions=completions,
                                          tokens_in=len(prompt.split()), latency_s=0.0,
                                          prompt_hash=request.prompt_hash(), sampling=request.sampling.as_dict()))
        return results

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.requests.extend(requests)
        return [LoglikelihoodResult(request_id=r.request_id, logprob=float(self._loglikelihood(r)), is_greedy=False,
                                    tokens_in=len(r.context.split()), continuation_tokens=len(r.continuation.split()),
                                    latency_s=0.0, prompt_hash=r.prompt_hash())
                for r in requests]

    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        self.requests.extend(requests)
        results = []
        for request in requests:
            logprobs = tuple(float(x) for x in self._choice(request))
            if len(logprobs) != len(request.choices):
                raise ValueError(f"fake choice returned {len(logprobs)} logprobs for {len(request.choices)} choices")
            results.append(ChoiceResult(request_id=request.request_id, logprobs=logprobs,
                                        tokens_in=len(request.context.split()), latency_s=0.0,
                                        prompt_hash=request.prompt_hash()))
        return results

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        return render_fake_chat(messages, add_generation_prompt)
