"""In-process vLLM engine (`vllm.LLM`): generation, log-likelihood and single-pass choice scoring.

Every call hands all its requests to vLLM at once (one `enqueue`, then the engine loop), so vLLM batches them
continuously; results come back in request order.

Rules worth knowing:
- Prompts are tokenized here, then sent as token ids, so the prompt length is known before vLLM sees it. A request
  whose prompt has max_model_len tokens or more gets `error` set ("prompt has N tokens; max_model_len is M") and is
  not sent; the others go on. A generation whose prompt fits but whose prompt + max_tokens does not stops at
  max_model_len with finish_reason "length".
- Every request is tokenized by engine/tokenization.py, lm-evaluation-harness's rule: text that starts with the BOS
  (a rendered chat template that writes it) is encoded without special tokens, any other text with the
  tokenizer's defaults; a prefilled reply (`assistant_prefix`) is rendered with continue_final_message.
- Generation requests skip prefix-cache reads (`skip_reading_prefix_cache`) unless the preset sets
  `generation_prefix_cache: true`. A prompt computed partly from cached blocks goes through other attention
  kernels than the same prompt computed whole, and whether a block is cached depends on what ran before and on
  which requests the scheduler took in first (timing): the logits then differ in the last bits and greedy
  decoding flips at near-ties, so the same run repeated gave different generations. Scoring requests keep reading
  the cache (a few-shot prefix is computed once); their log-probs differ only in the last bits.
- Greedy sampling (temperature 0) with n > 1 runs once and repeats the completion n times: vLLM rejects greedy
  n > 1, and greedy decoding is deterministic.
- Log-likelihood follows lm-evaluation-harness's split (engine/tokenization.py); the continuation's log-probs
  come from vLLM's prompt log-probs (raw, full-vocabulary log-softmax). vLLM skips prefix-cache *reads* for
  prompt-log-prob requests (positions served from the cache would have no log-probs), so these requests are
  recomputed in full; they are still sent in one batch, sorted so that requests sharing a context are adjacent.
- choice_logprobs asks for one generated token with `logprob_token_ids` = the choices' tokens: one forward
  pass per question, log-probs of the full-vocabulary distribution (not renormalized over the choices), and the
  shared few-shot prefix is served from the prefix cache. Every choice must be a single token after the
  log-likelihood split (so the result equals the choices' log-likelihoods); otherwise that request gets an `error`
  naming the choice and the caller falls back to loglikelihood requests (" 4" is two tokens for SmolLM2).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Sequence
from typing import Any

from llmeval_assets.engine.base import EngineError, InferenceEngine
from llmeval_assets.engine.lifeline import Lifeline
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
from llmeval_assets.engine.tokenization import NoChatTemplateError, RequestTokenizer
from llmeval_assets.engine.weights import Checkpoint
from llmeval_assets.registry.presets import EngineSettings

# SamplingParams.logprob_token_ids accepts at most this many ids (vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS).
MAX_CHOICES = 128


def vllm_engine_args(settings: EngineSettings, checkpoint: Checkpoint) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM` for a model under its preset. `swap_space_gb` is not passed: vLLM's V1
    engine no longer has a swap space (preempted requests are recomputed)."""
    args: dict[str, Any] = {
        "model": str(checkpoint.path),
        "tokenizer": str(checkpoint.path),
        "dtype": settings.dtype,
        "quantization": settings.quantization,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "max_model_len": settings.max_model_len,
        "max_num_seqs": settings.max_num_seqs,
        "enable_prefix_caching": settings.enable_prefix_caching,
        "enforce_eager": settings.enforce_eager,
        "seed": settings.seed,
        # Never let the checkpoint's generation_config.json inject sampling defaults; requests pass them all.
        "generation_config": "vllm",
    }
    if settings.max_images_per_prompt:
        # a vision-language model: how many images a prompt may carry and its processor's settings
        args["limit_mm_per_prompt"] = {"image": settings.max_images_per_prompt}
        if settings.mm_processor_kwargs:
            args["mm_processor_kwargs"] = dict(settings.mm_processor_kwargs)
        if settings.trust_remote_code:
            args["trust_remote_code"] = True
    if settings.pipeline_parallel_size > 1:
        # Pipeline stages may sit on other nodes, which only the Ray backend reaches (the default multiprocessing
        # backend is single-node). vLLM joins the cluster named by $RAY_ADDRESS, or starts a local one.
        args.update(pipeline_parallel_size=settings.pipeline_parallel_size, distributed_executor_backend="ray")
    return args


def prompt_too_long(prompt_tokens: int, max_model_len: int) -> str | None:
    """Why a prompt of this many tokens cannot be served (None when it can), for every backend."""
    if prompt_tokens >= max_model_len:
        return (
            f"prompt has {prompt_tokens} tokens; max_model_len is {max_model_len} "
            "(the prompt plus at least one generated token must fit)"
        )
    return None


class VLLMEngine(InferenceEngine):
    """One model loaded in vLLM. Construct it once per model and run; `close()` frees its memory."""

    def __init__(self, settings: EngineSettings, checkpoint: Checkpoint) -> None:
        import vllm

        self.settings = settings
        self.checkpoint = checkpoint
        self.engine_args = vllm_engine_args(settings, checkpoint)
        started = time.perf_counter()
        self._lifeline = Lifeline.start()  # the engine's processes die with this one (engine/lifeline.py)
        try:
            self._llm: Any = vllm.LLM(**self.engine_args)
        except Exception as exc:  # vLLM raises many types for a checkpoint it cannot load
            self._lifeline.release()
            raise EngineError(
                f"vLLM could not load model {settings.model_key!r} from {checkpoint.path}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.load_seconds = time.perf_counter() - started
        self._encoder = RequestTokenizer(self._llm.get_tokenizer())
        self._watchdog_stop = threading.Event()
        _start_death_watchdog(self._llm.llm_engine.engine_core, self._watchdog_stop)
        self._provenance = Provenance(
            model_key=settings.model_key,
            weights_revision=checkpoint.revision,
            backend="vllm",
            backend_version=vllm.__version__,
            engine_args=self.engine_args,
        )

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    def tokenizer_fingerprint(self) -> dict[str, Any]:
        from llmeval_assets.engine.fingerprint import tokenizer_fingerprint

        return tokenizer_fingerprint(self.checkpoint.path)

    @property
    def max_model_len(self) -> int:
        return self.settings.max_model_len

    # ----------------------------------------------------------------------------------------------- requests

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        from vllm import SamplingParams

        results: list[GenerateResult | None] = [None] * len(requests)
        batch: list[tuple[int, Any, Any]] = []  # (index, token ids or a multimodal prompt, params)
        for index, request in enumerate(requests):
            prompt: Any
            if request.images:
                prompt, problem = self._multimodal_prompt(request)
                if problem:
                    results[index] = _generate_error(request, 0, problem)
                    continue
            else:
                prompt = self.generation_prompt_ids(request)
                too_long = self._too_long(prompt)
                if too_long:
                    results[index] = _generate_error(request, len(prompt), too_long)
                    continue
            sampling = request.sampling
            greedy = sampling.temperature == 0.0
            params = SamplingParams(
                n=1 if greedy else sampling.n,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=list(sampling.stop) or None,
                seed=sampling.seed,
                skip_reading_prefix_cache=not self.settings.generation_prefix_cache,
            )
            batch.append((index, prompt, params))

        outputs = self._run([(prompt, params) for _, prompt, params in batch])
        for (index, _, _), (output, latency) in zip(batch, outputs, strict=True):
            request = requests[index]
            completions = tuple(
                Completion(text=c.text, finish_reason=c.finish_reason, tokens_out=len(c.token_ids))
                for c in output.outputs
            )
            if request.sampling.temperature == 0.0:
                completions *= request.sampling.n
            results[index] = GenerateResult(
                request_id=request.request_id,
                completions=completions,
                tokens_in=len(output.prompt_token_ids),  # image placeholders expanded, for multimodal prompts
                latency_s=latency,
                prompt_hash=request.prompt_hash(),
                sampling=request.sampling.as_dict(),
            )
        return _all_set(results)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        from vllm import SamplingParams

        # prompt_logprobs=1: each position reports the actual token's log-prob and rank (and the top-1 token).
        # No detokenization (the text of every prompt position is not needed) and flat log-prob lists (a few
        # Python lists instead of a dict per position): less per-token work in vLLM's output processing.
        params = SamplingParams(
            max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False, flat_logprobs=True
        )
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        batch: list[tuple[int, list[int], int]] = []  # (request index, whole token ids, context token count)
        for index, request in enumerate(requests):
            context_ids, continuation_ids = self.encode_pair(request.context, request.continuation)
            whole = context_ids + continuation_ids
            problem = self._too_long(whole) or (None if continuation_ids else "continuation is empty")
            if problem:
                results[index] = _loglikelihood_error(request, len(whole), problem)
                continue
            batch.append((index, whole, len(context_ids)))
        batch.sort(key=lambda item: requests[item[0]].context)  # shared contexts side by side

        outputs = self._run([(whole, params) for _, whole, _ in batch])
        for (index, whole, context_len), (output, latency) in zip(batch, outputs, strict=True):
            logprob, is_greedy = 0.0, True
            # prompt_logprobs[i] is the distribution that predicted token i (entry 0 is None).
            for position in range(context_len, len(whole)):
                entry = output.prompt_logprobs[position][whole[position]]
                logprob += entry.logprob
                is_greedy = is_greedy and entry.rank == 1
            request = requests[index]
            results[index] = LoglikelihoodResult(
                request_id=request.request_id,
                logprob=logprob,
                is_greedy=is_greedy,
                tokens_in=len(whole),
                continuation_tokens=len(whole) - context_len,
                latency_s=latency,
                prompt_hash=request.prompt_hash(),
            )
        return _all_set(results)

    def choice_logprobs(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        from vllm import SamplingParams

        results: list[ChoiceResult | None] = [None] * len(requests)
        batch: list[tuple[int, list[int], list[int], Any]] = []  # (index, context ids, choice token ids, params)
        for index, request in enumerate(requests):
            context_ids, choice_tokens, refusal = self._choice_tokens(request)
            problem = self._too_long(context_ids) or refusal
            if problem:
                results[index] = ChoiceResult(
                    request_id=request.request_id,
                    logprobs=(),
                    tokens_in=len(context_ids),
                    latency_s=0.0,
                    prompt_hash=request.prompt_hash(),
                    error=problem,
                )
                continue
            params = SamplingParams(
                max_tokens=1, temperature=0.0, logprob_token_ids=sorted(set(choice_tokens)), detokenize=False
            )
            batch.append((index, context_ids, choice_tokens, params))

        outputs = self._run([(context_ids, params) for _, context_ids, _, params in batch])
        for (index, context_ids, choice_tokens, _), (output, latency) in zip(batch, outputs, strict=True):
            answer_position = output.outputs[0].logprobs[0]
            request = requests[index]
            results[index] = ChoiceResult(
                request_id=request.request_id,
                logprobs=tuple(answer_position[token].logprob for token in choice_tokens),
                tokens_in=len(context_ids),
                latency_s=latency,
                prompt_hash=request.prompt_hash(),
            )
        return _all_set(results)

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """As lm-eval: without the generation prompt, the last (assistant) message is continued."""
        try:
            if add_generation_prompt:
                return self._encoder.render_chat(messages)
            *earlier, last = messages
            return self._encoder.render_chat(earlier, assistant_prefix=last["content"])
        except NoChatTemplateError as exc:
            raise EngineError(f"model {self.settings.model_key!r}: {exc}") from exc

    def close(self) -> None:
        """Shut the EngineCore process down and release the model's memory. Safe to call twice."""
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is None:
            return
        self._watchdog_stop.set()
        llm.llm_engine.engine_core.shutdown()
        self._lifeline.release()
        del llm
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    # ----------------------------------------------------------------------------------------------- tokens

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        return self._encoder.encode_pair(context, continuation)

    def generation_prompt_ids(self, request: GenerateRequest) -> list[int]:
        try:
            return self._encoder.generation_ids(request)
        except NoChatTemplateError as exc:
            raise EngineError(f"model {self.settings.model_key!r}: {exc}") from exc

    def _multimodal_prompt(self, request: GenerateRequest) -> tuple[Any, str | None]:
        """A request with images as vLLM takes it: the chat-rendered token ids, with each image's placeholder
        (expanded by vLLM's processor to the image's tokens), and the decoded images; or why it cannot be sent.
        Its length is known only after that expansion: vLLM itself refuses a prompt beyond max_model_len."""
        from llmeval_assets.engine.multimodal import ImageInputError, decode_image, with_images

        limit = self.settings.max_images_per_prompt
        if not limit:
            return None, f"model {self.settings.model_key!r} takes no images (its registry entry has no `vision`)"
        if len(request.images) > limit:
            return None, f"{len(request.images)} images; model {self.settings.model_key!r} takes at most {limit}"
        assert request.messages is not None
        try:
            messages = with_images(request.messages, request.images, request.request_id,
                                   placeholder=self.settings.image_placeholder)
            images = [decode_image(image, self.settings.max_pixels) for image in request.images]
        except ImageInputError as exc:
            return None, str(exc)
        ids = self._encoder.encode(self._encoder.render_chat(messages, request.assistant_prefix))
        return {"prompt_token_ids": ids, "multi_modal_data": {"image": images}}, None

    def _choice_tokens(self, request: ChoiceRequest) -> tuple[list[int], list[int], str | None]:
        """The context's token ids and each choice's token id (same split as log-likelihood), or a refusal."""
        if not request.choices:
            return [], [], "no choices"
        if len(set(request.choices)) > MAX_CHOICES:
            return [], [], f"{len(request.choices)} choices; at most {MAX_CHOICES} can be scored in one pass"
        context_ids: list[int] = []
        choice_tokens = []
        for choice in request.choices:
            context_ids, continuation_ids = self.encode_pair(request.context, choice)
            if len(continuation_ids) != 1:
                return context_ids, [], (
                    f"choice {choice!r} is {len(continuation_ids)} tokens; single-pass scoring needs single-token "
                    "choices (send loglikelihood requests instead)"
                )
            choice_tokens.append(continuation_ids[0])
        return context_ids, choice_tokens, None

    def _too_long(self, prompt_ids: list[int]) -> str | None:
        return prompt_too_long(len(prompt_ids), self.max_model_len)

    # ----------------------------------------------------------------------------------------------- engine loop

    def _run(self, batch: Sequence[tuple[Any, Any]]) -> list[tuple[Any, float]]:
        """Send all prompts (token ids, or a multimodal prompt dict) at once; return (RequestOutput, seconds from
        submission to completion) in order."""
        if not batch:
            return []
        if self._llm is None:
            raise EngineError(f"engine for {self.settings.model_key!r} is closed")
        from vllm.inputs import TokensPrompt
        from vllm.v1.engine.exceptions import EngineDeadError

        engine = self._llm.llm_engine
        request_ids: list[str] = []
        try:
            request_ids = self._llm.enqueue(
                [TokensPrompt(prompt_token_ids=ids) if isinstance(ids, list) else ids for ids, _ in batch],
                [params for _, params in batch],
                use_tqdm=False,
            )
            started = time.perf_counter()
            finished: list[tuple[Any, float]] = []
            # vLLM's own LLM._run_engine loop, also noting when each request finishes.
            while engine.has_unfinished_requests():
                finished.extend((output, time.perf_counter() - started) for output in engine.step() if output.finished)
        except EngineDeadError as exc:
            raise EngineError(
                f"the vLLM engine for {self.settings.model_key!r} died during a batch of {len(batch)} requests "
                f"(EngineCore process crashed or was killed); results of this batch are lost, earlier ones are not"
            ) from exc
        except BaseException:
            # Leave no half-done requests behind to pollute the next call (KeyboardInterrupt included).
            if request_ids:
                engine.abort_request(request_ids, internal=True)
            raise
        if len(finished) != len(batch):
            raise EngineError(f"vLLM returned {len(finished)} results for {len(batch)} requests")
        # Outputs carry LLM's external ids, consecutive integers in submission order (LLM._run_engine sorts so).
        return sorted(finished, key=lambda item: int(item[0].request_id))


def _start_death_watchdog(core_client: Any, stop: threading.Event) -> None:
    """vLLM 0.32's synchronous multiprocess client notices when the EngineCore process dies (it sets
    `resources.engine_dead`) but leaves a `step()` that is waiting for outputs blocked forever on its queue. This
    thread puts an EngineDeadError into that queue when it happens, so the call fails instead of hanging."""
    from vllm.v1.engine.exceptions import EngineDeadError

    resources = getattr(core_client, "resources", None)
    outputs_queue = getattr(core_client, "outputs_queue", None)
    if resources is None or outputs_queue is None:  # in-process engine core: a crash raises directly
        return

    def watch() -> None:
        while not stop.wait(0.5):
            if resources.engine_dead:
                outputs_queue.put_nowait(EngineDeadError())
                return

    threading.Thread(target=watch, name="llmeval-engine-watchdog", daemon=True).start()


def _all_set(results: list[Any]) -> list[Any]:
    assert all(result is not None for result in results), "every request has a result or an error"
    return results


def _generate_error(request: GenerateRequest, tokens_in: int, error: str) -> GenerateResult:
    return GenerateResult(
        request_id=request.request_id,
        completions=(),
        tokens_in=tokens_in,
        latency_s=0.0,
        prompt_hash=request.prompt_hash(),
        sampling=request.sampling.as_dict(),
        error=error,
    )


def _loglikelihood_error(request: LoglikelihoodRequest, tokens_in: int, error: str) -> LoglikelihoodResult:
    return LoglikelihoodResult(
        request_id=request.request_id,
        logprob=float("nan"),
        is_greedy=False,
        tokens_in=tokens_in,
        continuation_tokens=0,
        latency_s=0.0,
        prompt_hash=request.prompt_hash(),
        error=error,
    )

