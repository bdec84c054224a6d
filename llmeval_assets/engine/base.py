"""The engine interface every backend (vLLM in-process, OpenAI-compatible server) implements.

Benchmarks talk only to this interface. A call receives *all* requests of a dataset at once so the backend can
batch them (vLLM schedules them continuously); results come back in request order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

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


class EngineError(RuntimeError):
    """The engine cannot serve requests at all (failed to load, crashed, server down). Per-request problems
    (a prompt longer than max_model_len) are reported in that result's `error` field instead."""


class InferenceEngine(ABC):
    @property
    @abstractmethod
    def provenance(self) -> Provenance: ...

    @abstractmethod
    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]: ...

    @abstractmethod
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    @abstractmethod
    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]: ...

    @abstractmethod
    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """Render messages with the model's own chat template (for log-likelihood tasks run on chat models)."""

    def tokenizer_fingerprint(self) -> dict[str, Any]:
        """What decides how this engine turns text and chat into tokens (llmeval_assets.identity): part of every
        result's spec hash. Empty where the engine cannot know it."""
        return {}

    def close(self) -> None:  # noqa: B027 - engines without resources to free need not override it
        """Free the model's memory; the engine cannot be used afterwards."""
