"""How a spec's requests reach an engine, the same way for every benchmark.

- `SpecEngine` wraps the engine a benchmark talks to and applies the run-level request rules a spec carries, so no
  benchmark re-implements them: a system instruction (a system turn before a conversation; before a plain prompt,
  the text and a blank line unless one side already has whitespace there, as lm-evaluation-harness joins it), the
  chat template on a variant that builds a plain prompt (the prompt becomes one user turn, as lm-eval's
  --apply_chat_template without multi-turn few-shot; a log-likelihood benchmark renders its contexts itself,
  benchmarks/multiple_choice.py), and generation settings a profile or run forces (they win over a benchmark's
  own per-item choices, such as MT-Bench's per-category temperatures).
- `RecordingEngine` answers every request with an empty result and keeps the requests: the requests a benchmark
  would send, before any inference (the spec hash's probes, per-item reuse of stored predictions).
- `CapturingEngine` passes requests through and keeps them (the evidence stored with each prediction).
- `request_digests` groups recorded requests by item (a request id is the item id, or the item id, "#" and a
  suffix) into one fingerprint per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from llmeval_assets.benchmarks.base import TaskSpec
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
    stable_hash,
)

PLAIN_PROMPT_DELIMITER = "\n\n"


def join_instruction(instruction: str, prompt: str) -> str:
    """lm-eval's maybe_delimit: instruction and prompt joined by a blank line unless whitespace already meets."""
    if not instruction:
        return prompt
    if not prompt or instruction[-1].isspace() or prompt[0].isspace():
        return instruction + prompt
    return instruction + PLAIN_PROMPT_DELIMITER + prompt


class SpecEngine(InferenceEngine):
    """`engine` as a spec's requests should reach it (see the module docstring)."""

    def __init__(self, engine: InferenceEngine, *, system_instruction: str | None = None,
                 chat_template: bool = False, forced_sampling: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.system_instruction = system_instruction or None
        self.chat_template = chat_template
        self.forced_sampling = dict(forced_sampling or {})

    @property
    def provenance(self) -> Provenance:
        return self.engine.provenance

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        return self.engine.generate([self.rewrite_generate(request) for request in requests])

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self.engine.loglikelihood([replace(r, context=self._context(r.context)) for r in requests])

    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        return self.engine.choice_logprobs([replace(r, context=self._context(r.context)) for r in requests])

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        return self.engine.apply_chat_template(self._conversation(tuple(messages)), add_generation_prompt)

    def close(self) -> None:
        self.engine.close()

    def rewrite_generate(self, request: GenerateRequest) -> GenerateRequest:
        sampling = replace(request.sampling, **self.forced_sampling) if self.forced_sampling else request.sampling
        if request.messages is not None:
            return replace(request, sampling=sampling, messages=self._conversation(request.messages))
        assert request.prompt is not None
        if self.chat_template:
            return replace(request, sampling=sampling, prompt=None,
                           messages=self._conversation(({"role": "user", "content": request.prompt},)))
        return replace(request, sampling=sampling, prompt=self._plain(request.prompt))

    def _conversation(self, messages: tuple[Message, ...]) -> tuple[Message, ...]:
        if not self.system_instruction or (messages and messages[0].get("role") == "system"):
            return messages
        return ({"role": "system", "content": self.system_instruction}, *messages)

    def _plain(self, prompt: str) -> str:
        return join_instruction(self.system_instruction or "", prompt)

    def _context(self, context: str) -> str:
        """Under the chat template a log-likelihood context arrives rendered (through apply_chat_template, which
        adds the system instruction); a plain one gets the instruction here."""
        return context if self.chat_template else self._plain(context)


class RecordingEngine(InferenceEngine):
    """Keeps every request and answers it emptily (no model): what a benchmark would send."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    @property
    def provenance(self) -> Provenance:
        return Provenance(model_key="recording", weights_revision="", backend="fake", backend_version="")

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        self.requests.extend(requests)
        return [GenerateResult(request_id=r.request_id, tokens_in=0, latency_s=0.0, prompt_hash=r.prompt_hash(),
                               sampling=r.sampling.as_dict(),
                               completions=tuple(Completion("", "stop", 0) for _ in range(r.sampling.n)))
                for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.requests.extend(requests)
        return [LoglikelihoodResult(request_id=r.request_id, logprob=0.0, is_greedy=False, tokens_in=0,
                                    continuation_tokens=0, latency_s=0.0, prompt_hash=r.prompt_hash())
                for r in requests]

    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        self.requests.extend(requests)
        return [ChoiceResult(request_id=r.request_id, logprobs=tuple(0.0 for _ in r.choices), tokens_in=0,
                             latency_s=0.0, prompt_hash=r.prompt_hash())
                for r in requests]

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        # No tokenizer here: a stand-in rendering that still changes whenever the messages do.
        return stable_hash({"messages": list(messages), "add_generation_prompt": add_generation_prompt})


class CapturingEngine(InferenceEngine):
    """Passes every request on to `engine` and keeps it: the requests actually sent (stored as evidence)."""

    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine
        self.requests: list[Request] = []

    @property
    def provenance(self) -> Provenance:
        return self.engine.provenance

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        self.requests.extend(requests)
        return self.engine.generate(requests)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.requests.extend(requests)
        return self.engine.loglikelihood(requests)

    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        self.requests.extend(requests)
        return self.engine.choice_logprobs(requests)

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        return self.engine.apply_chat_template(messages, add_generation_prompt)


def spec_engine(engine: InferenceEngine, spec: TaskSpec) -> InferenceEngine:
    """The engine as `spec`'s requests should reach it; the engine itself when the spec changes nothing."""
    if not (spec.system_instruction or spec.chat_wrapped or spec.forced_sampling):
        return engine
    return SpecEngine(engine, system_instruction=spec.system_instruction, chat_template=spec.chat_wrapped,
                      forced_sampling=dict(spec.forced_sampling))


def item_of(request_id: str) -> str:
    return request_id.split("#", 1)[0]


def request_record(request: Request) -> dict[str, Any]:
    """A request as stored and hashed: every field but its id (which only names the item). Images are recorded by
    their content ids, never their bytes; a request without images has no `images` key (its digest is unchanged)."""
    record = asdict(request)
    record.pop("request_id")
    record["kind"] = type(request).__name__
    if isinstance(request, GenerateRequest):
        record.pop("images")
        if request.images:
            record["images"] = list(request.image_ids)
    return record


def requests_by_item(requests: Sequence[Request]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        grouped.setdefault(item_of(request.request_id), []).append(request_record(request))
    return grouped


def request_digests(requests: Sequence[Request]) -> dict[str, str]:
    """One fingerprint per item over everything its requests carry (text, conversation, choices, sampling)."""
    return {item_id: stable_hash(records)[:32] for item_id, records in requests_by_item(requests).items()}
