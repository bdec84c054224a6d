"""Who judges a judged benchmark (MT-Bench) and how: a choice the CLI, the assets and freshness share. Light on
imports, so the registry commands can build one."""

from __future__ import annotations

import os
from dataclasses import dataclass

from llmeval_assets.registry import Registry, UnknownNameError

JUDGE_MODEL_ENV = "LLMEVAL_JUDGE_MODEL"


@dataclass(frozen=True)
class JudgeChoice:
    """Recorded with a judged result (`describe`). A result judged otherwise is stale only when the user names a
    judge setting (`chosen`): a run that names none, like the registry sensor's, keeps whatever judge a result
    already has rather than re-judging it with the defaults."""

    model: str | None = None  # registry key; None: $LLMEVAL_JUDGE_MODEL, else the evaluated model (a smoke test)
    max_tokens: int | None = None  # cap on each judgment; None: the benchmark's own (FastChat's 2048)
    rating_fallback: bool = False  # rate by likelihood when a judgment has no [[N]] (small judges)

    @property
    def chosen(self) -> bool:
        return bool(self.model or self.max_tokens or self.rating_fallback or os.environ.get(JUDGE_MODEL_ENV))

    def check(self, registry: Registry) -> None:
        """Refuse a judge that cannot judge (unknown, or unable to generate, or to give likelihoods for the rating
        fallback) before anything runs: a run would find out only after generating every answer."""
        name = self.model or os.environ.get(JUDGE_MODEL_ENV)
        if name is None:
            return
        given = f"--judge {name}" if self.model else f"${JUDGE_MODEL_ENV}={name}"
        try:
            key = registry.resolve_model(name)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{given}: {exc}") from None
        kind = registry.models[key].kind
        if not kind.can_generate:
            raise UnknownNameError(f"{given}: {key!r} (kind {kind.value}) cannot generate judgments; choose a "
                                   "decoder model")
        if self.rating_fallback and not kind.can_score_loglikelihood:
            raise UnknownNameError(f"{given}: {key!r} (kind {kind.value}) scores no log-likelihoods, which "
                                   "--judge-rating-fallback needs; choose a decoder model")

    def judge_key(self, registry: Registry, model: str) -> str:
        return registry.resolve_model(self.model or os.environ.get(JUDGE_MODEL_ENV) or model)

    def describe(self, registry: Registry, model: str) -> str:
        """E.g. "qwen3_8b", "llama31_70b@<pinned revision> max_tokens=1024 rating_fallback=likelihood"."""
        key = self.judge_key(registry, model)
        revision = registry.models[key].revision
        return " ".join([f"{key}@{revision}" if revision else key,
                         *([f"max_tokens={self.max_tokens}"] if self.max_tokens else []),
                         *(["rating_fallback=likelihood"] if self.rating_fallback else [])])


def judge_model_of(description: str) -> str:
    """The registry key of the judge a `JudgeChoice.describe` text names."""
    return description.split()[0].split("@")[0]
