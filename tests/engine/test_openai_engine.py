"""OpenAIEngine against a real `vllm serve` (the tiny Llama, started here on localhost), compared with the
in-process VLLMEngine on the same checkpoint; plus retries, bounded concurrency and a server that is down, against
small local HTTP servers written here. Nothing is mocked."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from llmeval_assets.engine.base import EngineError
from llmeval_assets.engine.openai_engine import OpenAIEngine
from llmeval_assets.engine.requests import ChoiceRequest, GenerateRequest, LoglikelihoodRequest, Sampling

SERVED_NAME = "tiny_llama"
SERVER_START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tiny_checkpoint, tiny_engine) -> Iterator[str]:
    """`vllm serve` on the tiny checkpoint, with the same limits as tiny_engine; its process group is killed at
    the end."""
    port = free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(tiny_checkpoint.path), "--served-model-name", SERVED_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--max-model-len", str(tiny_engine.max_model_len), "--enforce-eager",
        "--gpu-memory-utilization", "0.1", "--generation-config", "vllm", "--seed", "1234",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"vllm serve exited with {server.returncode}: {server.stderr.read()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not healthy after {SERVER_START_TIMEOUT_S} s")
            time.sleep(1)
        yield f"{base_url}/v1"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def served_engine(vllm_server) -> Iterator[OpenAIEngine]:
    engine = OpenAIEngine(vllm_server, SERVED_NAME, model_key="tiny_llama", concurrency=8)
    yield engine
    engine.close()


@pytest.mark.vllm
def test_generation_matches_the_in_process_engine(served_engine, tiny_engine):
    requests = [
        GenerateRequest("p", Sampling(max_tokens=10), prompt="Once upon a time"),
        GenerateRequest("c", Sampling(max_tokens=10), messages=({"role": "user", "content": "Hello there"},)),
        GenerateRequest("n", Sampling(max_tokens=5, n=2), prompt="The weather"),
    ]
    served = served_engine.generate(requests)
    local = tiny_engine.generate(requests)
    for remote, here in zip(served, local, strict=True):
        assert remote.error is None and remote.request_id == here.request_id
        assert [c.text for c in remote.completions] == [c.text for c in here.completions]
        assert remote.tokens_in == here.tokens_in
        assert remote.completions[0].tokens_out == here.completions[0].tokens_out
    (sampled,) = served_engine.generate(
        [GenerateRequest("s", Sampling(max_tokens=8, temperature=1.0, n=3, seed=3), prompt="Once")]
    )
    assert len(sampled.completions) == 3 and len({c.text for c in sampled.completions}) > 1
    (stopped,) = served_engine.generate(
        [GenerateRequest("stop", Sampling(max_tokens=10, stop=(served[0].completions[0].text[3:6],)),
                         prompt="Once upon a time")]
    )
    assert stopped.completions[0].finish_reason == "stop"
    assert served_engine.provenance.backend == "openai"
    assert served_engine.provenance.backend_version.startswith("vllm ")


@pytest.mark.vllm
def test_loglikelihood_and_choices_match_the_in_process_engine(served_engine, tiny_engine):
    requests = [
        LoglikelihoodRequest("a", "The capital of France is", " Paris"),
        LoglikelihoodRequest("b", "Question: 2 + 2 = ?\nAnswer: ", "4, because two and two make four."),
    ]
    for remote, here in zip(served_engine.loglikelihood(requests), tiny_engine.loglikelihood(requests), strict=True):
        assert remote.error is None
        assert remote.continuation_tokens == here.continuation_tokens
        assert abs(remote.logprob - here.logprob) / here.continuation_tokens < 1e-3
        assert remote.is_greedy == here.is_greedy

    choices = [ChoiceRequest("q", "Answer:", (" A", " B", " C")), ChoiceRequest("r", "2 + 2 =", (" 4", " 5"))]
    remote_ok, remote_refused = served_engine.choice_logprobs(choices)
    here_ok, _ = tiny_engine.choice_logprobs(choices)
    assert remote_ok.logprobs == pytest.approx(here_ok.logprobs, abs=1e-3)
    assert "is 2 tokens" in remote_refused.error


@pytest.mark.vllm
def test_prompt_longer_than_the_context_fails_alone(served_engine, tiny_engine):
    long_prompt = "word " * (tiny_engine.max_model_len + 10)
    ok, too_long = served_engine.generate(
        [
            GenerateRequest("ok", Sampling(max_tokens=3), prompt="Hello"),
            GenerateRequest("long", Sampling(max_tokens=3), prompt=long_prompt),
        ]
    )
    assert ok.error is None and ok.completions
    assert too_long.completions == () and "400" in too_long.error
    (ll_long,) = served_engine.loglikelihood([LoglikelihoodRequest("l", long_prompt, "end")])
    assert ll_long.error and math.isnan(ll_long.logprob)


def test_server_down_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(EngineError, match=rf"cannot reach {url}/models: ConnectError"):
        OpenAIEngine(url, "m", max_retries=1, backoff_s=0.01)


class ScriptedServer:
    """A local OpenAI-like server: answers /models, then the scripted statuses for /completions (then 200), and
    records how many completion requests were in flight at once."""

    def __init__(self, statuses: list[int], delay_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay_s = delay_s
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def reply(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.reply(200, {"data": [{"id": "m"}]})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with server.lock:
                    server.calls += 1
                    status = server.statuses.pop(0) if server.statuses else 200
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay_s)
                with server.lock:
                    server.in_flight -= 1
                if status != 200:
                    self.reply(status, {"error": {"message": f"scripted {status}"}}, {"Retry-After": "0"})
                    return
                self.reply(200, {"choices": [{"text": " ok", "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 3, "completion_tokens": 1}})  # fmt: skip

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_retries_on_503_and_429_then_succeeds():
    server = ScriptedServer([503, 429, 502])
    engine = OpenAIEngine(server.url, "m", backoff_s=0.01)
    try:
        (result,) = engine.generate([GenerateRequest("g", Sampling(max_tokens=2), prompt="hi")])
        assert result.error is None and result.completions[0].text == " ok"
        assert server.calls == 4
    finally:
        engine.close()
        server.close()


def test_gives_up_after_max_retries_and_rejects_4xx_per_request():
    server = ScriptedServer([503, 503, 503])
    engine = OpenAIEngine(server.url, "m", max_retries=2, backoff_s=0.01)
    try:
        with pytest.raises(EngineError, match="kept failing: 503 scripted 503 after 3 attempts"):
            engine.generate([GenerateRequest("g", Sampling(max_tokens=2), prompt="hi")])
        server.statuses = [400]
        rejected, fine = engine.generate(
            [GenerateRequest(f"g{i}", Sampling(max_tokens=2), prompt="hi") for i in range(2)]
        )
        assert "answered 400: scripted 400" in (rejected.error or fine.error)
        assert (rejected.error is None) != (fine.error is None)
    finally:
        engine.close()
        server.close()


def test_concurrency_is_bounded():
    server = ScriptedServer([], delay_s=0.05)
    engine = OpenAIEngine(server.url, "m", concurrency=3)
    try:
        results = engine.generate([GenerateRequest(f"g{i}", Sampling(max_tokens=2), prompt="hi") for i in range(12)])
        assert [r.request_id for r in results] == [f"g{i}" for i in range(12)]
        assert server.max_in_flight == 3
    finally:
        engine.close()
        server.close()


def test_engine_resource_openai_backend():
    """EngineResource(backend="openai") serves registry models through a server; the served name is configurable."""
    from llmeval_assets.engine.resource import EngineResource

    server = ScriptedServer([])
    resource = EngineResource(backend="openai", openai_base_url=server.url, openai_model="m")
    try:
        engine = resource.get_engine("smollm2_135m")
        assert isinstance(engine, OpenAIEngine) and resource.get_engine("smollm2_135m") is engine
        assert engine.provenance.model_key == "smollm2_135m" and engine.provenance.backend == "openai"
        (result,) = engine.generate([GenerateRequest("g", Sampling(max_tokens=2), prompt="hi")])
        assert result.completions[0].text == " ok"
    finally:
        resource.close()
        server.close()
