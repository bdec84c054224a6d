"""`EngineResource`: the Dagster resource through which assets reach a model.

It creates an engine lazily on the first `get_engine(model)` of a run and keeps it for every later request for that
model, so one model evaluated on many datasets in one run loads once. Asking for another model shuts the current
engine down first (a GPU holds one model at a time), and the run's teardown closes the last one. The model's
settings say which backend serves a dataset's request kind (`EngineSettings.backend_for`: vLLM, or the transformers
log-likelihood scorer); switching backends also closes the current engine first, so one model is never loaded
twice at once. Each construction
is counted in `EngineResource.constructions` (per model key) for tests and run metadata.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, ClassVar, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.registry.presets import EngineSettings


class EngineResource(dg.ConfigurableResource):
    """Engine settings come from the registry entry under `preset` (the model's own preset when unset); `device`
    "cpu" runs vLLM's CPU backend with `cpu_memory_fraction` of RAM and eager mode (no CUDA graphs)."""

    registry_dir: str | None = Field(default=None, description="registry directory; default: the project's")
    preset: str | None = Field(default=None, description="engine preset; default: each model's own")
    device: Literal["cuda", "cpu"] = Field(default="cuda", description="cpu: vLLM's CPU backend (tests, demos)")
    cpu_memory_fraction: float = Field(default=0.2, gt=0.0, le=1.0, description="share of RAM on device=cpu")
    dtype: str | None = Field(default=None, description="override the registry's dtype, e.g. float32 on CPU")
    backend: Literal["vllm", "openai"] = Field(default="vllm", description="in-process vLLM or an OpenAI server")
    openai_base_url: str | None = Field(default=None, description="e.g. http://localhost:8000/v1")
    openai_api_key: str | None = Field(default=None, description="API key of the OpenAI-compatible server")
    openai_model: str | None = Field(default=None, description="served model name; default: the model's hf_id")
    openai_concurrency: int = Field(default=16, gt=0, description="requests in flight to the server")

    constructions: ClassVar[Counter[str]] = Counter()  # engines built per model key, process-wide

    _engine: InferenceEngine | None = PrivateAttr(default=None)
    _engine_key: tuple[str, str | None, str] | None = PrivateAttr(default=None)

    def get_engine(self, model: str, dtype: str | None = None, request_kind: str = "generate") -> InferenceEngine:
        """The engine of `model` (a registry key or alias) in `dtype` (None: the resource's, else the model's own)
        that serves `request_kind` requests, loading it if it is not the current one. Raises UnknownModelError for
        a name the registry does not know, EngineError when the model cannot be loaded."""
        from llmeval_assets.registry import load_registry

        registry = load_registry(self.registry_dir)
        key = registry.resolve_model(model)
        backend = self.backend_for(model, request_kind)
        if self._engine is not None and self._engine_key == (key, dtype, backend):
            return self._engine
        self.close()
        if self.device == "cpu":
            # vLLM's CPU backend otherwise pins its worker's threads to fixed cores: on a small or shared machine
            # one busy neighbour then starves the whole evaluation
            os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        settings = self.engine_settings(registry.engine_settings(key, self.preset), dtype)
        engine: InferenceEngine
        if backend == "openai":
            engine = self._openai_engine(key, registry.models[key].hf_id)
        else:
            from llmeval_assets.engine.weights import resolve_checkpoint

            checkpoint = resolve_checkpoint(key, registry.models[key], registry.root)
            if backend == "transformers":
                from llmeval_assets.engine.transformers_engine import TransformersEngine

                engine = TransformersEngine(settings, checkpoint)
            else:
                from llmeval_assets.engine.vllm_engine import VLLMEngine

                engine = VLLMEngine(settings, checkpoint)
        type(self).constructions[key] += 1
        self._engine, self._engine_key = engine, (key, dtype, backend)
        return engine

    def backend_for(self, model: str, request_kind: str) -> str:
        """Which backend serves `model`'s `request_kind` requests: "openai" when this resource talks to a server,
        else what the model's settings say ("vllm" or "transformers")."""
        if self.backend == "openai":
            return "openai"
        from llmeval_assets.registry import load_registry

        registry = load_registry(self.registry_dir)
        return registry.engine_settings(registry.resolve_model(model), self.preset).backend_for(request_kind)

    def engine_settings(self, settings: EngineSettings, dtype: str | None = None) -> EngineSettings:
        """The registry's settings with this resource's device applied, and `dtype` (else the resource's)."""
        overrides: dict[str, object] = {}
        if self.device == "cpu":
            overrides.update(gpu_memory_utilization=self.cpu_memory_fraction, enforce_eager=True)
        if dtype or self.dtype:
            overrides["dtype"] = dtype or self.dtype
        return settings.with_overrides(**overrides)

    def fingerprint(self, model: str, dtype: str | None = None, request_kind: str = "generate") -> dict[str, Any]:
        """The engine fingerprint (llmeval_assets.identity) `get_engine(model, dtype, request_kind)` loads, without
        loading it."""
        from llmeval_assets.engine.fingerprint import installed_backend, serving_fingerprint
        from llmeval_assets.registry import load_registry

        registry = load_registry(self.registry_dir)
        key = registry.resolve_model(model)
        settings = self.engine_settings(registry.engine_settings(key, self.preset), dtype)
        if self.backend == "openai":
            return {"backend": "openai", "backend_version": self.openai_base_url or "", "device": "server",
                    "model": self.openai_model or registry.models[key].hf_id or key}
        _, backend, version = installed_backend()
        return serving_fingerprint(settings, request_kind, backend=backend, backend_version=version,
                                   device=self.device)

    def _openai_engine(self, key: str, hf_id: str | None) -> InferenceEngine:
        from llmeval_assets.engine.openai_engine import OpenAIEngine

        if not self.openai_base_url:
            raise ValueError("backend 'openai' needs openai_base_url (e.g. http://localhost:8000/v1)")
        return OpenAIEngine(
            base_url=self.openai_base_url,
            api_key=self.openai_api_key,
            model=self.openai_model or hf_id or key,
            model_key=key,
            concurrency=self.openai_concurrency,
        )

    @property
    def current_model(self) -> str | None:
        return self._engine_key[0] if self._engine_key else None

    def close(self) -> None:
        """Shut the current engine down (frees GPU memory); the next get_engine loads again."""
        engine, self._engine, self._engine_key = self._engine, None, None
        if engine is not None:
            engine.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
