"""The contract between benchmarks and inference engines: what may be asked of a model, and what comes back.

Plain frozen dataclasses, no vLLM or torch import, so benchmarks, the CLI and tests use them without an engine.
Every result carries enough provenance to reproduce the request (see `Provenance`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class Sampling:
    """Generation parameters, always passed explicitly (a model's generation_config.json never leaks in)."""

    max_tokens: int = 256
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    n: int = 1  # samples per prompt, for pass@k
    seed: int | None = 1234

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stop": list(self.stop)}


@dataclass(frozen=True)
class ImageInput:
    """One image of a request: `image_id` is the sha256 of its encoded bytes (PNG or JPEG, as the dataset stores
    them). Records, hashes and reports carry only the id; the bytes go to the engine."""

    image_id: str
    data: bytes = field(repr=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageInput:
        return cls(image_id=image_content_id(data), data=data)


def image_content_id(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class GenerateRequest:
    """One generation. Exactly one of `prompt` (plain completion) or `messages` (rendered with the model's chat
    template, generation prompt appended) is set. A multi-turn conversation is `messages` with earlier turns.
    `assistant_prefix` (with `messages` only) prefills the reply: the completion continues that text inside the
    assistant turn (lm-eval's gen_prefix; engine/tokenization.py says how it is rendered).
    `images` belong to the last user turn, before its text (as lmms-eval places them); only `messages` requests
    carry images, and only vision-language engines serve them."""

    request_id: str
    sampling: Sampling
    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    assistant_prefix: str | None = None
    images: tuple[ImageInput, ...] = ()

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError(f"request {self.request_id}: set exactly one of prompt or messages")
        if self.assistant_prefix is not None and self.messages is None:
            raise ValueError(f"request {self.request_id}: assistant_prefix prefills a chat reply; it needs messages")
        if self.images and self.messages is None:
            raise ValueError(f"request {self.request_id}: images go with messages (a user turn), not a plain prompt")

    @property
    def image_ids(self) -> tuple[str, ...]:
        return tuple(image.image_id for image in self.images)

    def prompt_hash(self) -> str:
        # a field only when set: requests without it keep the hash they had before it existed
        fields: dict[str, Any] = {"prompt": self.prompt, "messages": self.messages}
        if self.assistant_prefix is not None:
            fields["assistant_prefix"] = self.assistant_prefix
        if self.images:
            fields["images"] = self.image_ids
        return stable_hash(fields)


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log P(continuation | context), summed over the continuation's tokens (lm-eval's loglikelihood request).
    `context` is already rendered (a benchmark that wants the chat template renders it first)."""

    request_id: str
    context: str
    continuation: str

    def prompt_hash(self) -> str:
        return stable_hash({"context": self.context, "continuation": self.continuation})


@dataclass(frozen=True)
class ChoiceRequest:
    """Single-pass multiple choice: the log-probability of each choice's first token at the position right after
    `context`, from one forward pass (e.g. choices (" A", " B", " C", " D") after "...\\nAnswer:")."""

    request_id: str
    context: str
    choices: tuple[str, ...]

    def prompt_hash(self) -> str:
        return stable_hash({"context": self.context, "choices": self.choices})


Request = GenerateRequest | LoglikelihoodRequest | ChoiceRequest


@dataclass(frozen=True)
class Provenance:
    """Where a result came from; stored with every prediction row."""

    model_key: str
    weights_revision: str  # resolved HF commit sha, or a content hash of local weights
    backend: Literal["vllm", "transformers", "openai", "fake"]
    backend_version: str
    engine_args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None  # "stop", "length", ...
    tokens_out: int


@dataclass(frozen=True)
class GenerateResult:
    request_id: str
    completions: tuple[Completion, ...]  # len == sampling.n
    tokens_in: int
    latency_s: float
    prompt_hash: str
    sampling: dict[str, Any]
    error: str | None = None  # e.g. prompt longer than max_model_len; the other requests go on


@dataclass(frozen=True)
class LoglikelihoodResult:
    request_id: str
    logprob: float
    is_greedy: bool  # every continuation token was the argmax
    tokens_in: int
    continuation_tokens: int
    latency_s: float
    prompt_hash: str
    error: str | None = None


@dataclass(frozen=True)
class ChoiceResult:
    request_id: str
    logprobs: tuple[float, ...]  # aligned with ChoiceRequest.choices
    tokens_in: int
    latency_s: float
    prompt_hash: str
    error: str | None = None


Result = GenerateResult | LoglikelihoodResult | ChoiceResult


def stable_hash(obj: Any) -> str:
    """sha256 of a canonical JSON rendering; the identity of prompts, specs and snapshots."""
    payload = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=list)
    return hashlib.sha256(payload.encode()).hexdigest()
