"""Evaluation profiles and run-level overrides: each option's effect on the requests actually sent and on a result's
identity, and each bad value's error. Requests are recorded by the benchmark code path that sends them
(evaluation.recorded_requests, no model); errors come from the real `llmeval` console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmeval_assets.benchmarks import get_benchmark
from llmeval_assets.evaluation import (
    EvaluationError,
    fewshot_pool,
    recorded_requests,
    resolve_evaluation,
    select_items,
)
from llmeval_assets.profiles import ProfileChoice, RunOverrides, parse_gen_kwargs
from llmeval_assets.registry import load_registry
from tests.benchmarks.data import load_test_items

MODEL = "smollm2_135m"  # an instruct model: the default profile gives it each benchmark's chat variant
CLI = str(Path(sys.executable).with_name("llmeval"))


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def requests_for(registry, dataset: str, choice: ProfileChoice, count: int = 2, pool=None):
    evaluation = resolve_evaluation(registry, MODEL, dataset, choice)
    items = load_test_items(dataset)
    chosen, snapshot_pool = select_items(items, count, evaluation)
    return evaluation, recorded_requests(evaluation, chosen, pool if pool is not None else
                                         fewshot_pool(evaluation, snapshot_pool))


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMEVAL_HOME": str(home)}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_profiles_choose_the_variant(registry):
    by_default = resolve_evaluation(registry, MODEL, "mmlu")
    lm_eval = resolve_evaluation(registry, MODEL, "mmlu", ProfileChoice("lm_eval"))
    leaderboard = resolve_evaluation(registry, MODEL, "arc_challenge", ProfileChoice("open_llm_leaderboard_v1"))
    assert (by_default.variant, by_default.profile) == ("chat_5shot", "default")
    assert (lm_eval.variant, lm_eval.spec.num_fewshot, lm_eval.spec.request_kind) == ("0shot", 0, "choice")
    assert (leaderboard.variant, leaderboard.spec.num_fewshot, leaderboard.primary_metric) == ("0shot", 25,
                                                                                               "acc_norm")
    assert lm_eval.profile == "lm_eval" and lm_eval.spec.reference.startswith("lm-evaluation-harness mmlu")


def test_num_fewshot_puts_that_many_exemplars_in_the_prompt(registry):
    _, zero = requests_for(registry, "mmlu", ProfileChoice("lm_eval"))
    five, shots = requests_for(registry, "mmlu", ProfileChoice("lm_eval", RunOverrides(num_fewshot=5)))
    assert zero[0].context.count("\nAnswer:") == 1
    assert shots[0].context.count("\nAnswer:") == 6  # five exemplars, then the question
    assert five.profile.startswith("lm_eval~") and "num_fewshot=5" in five.profile_label


def test_gsm8k_chain_of_thought_honours_fewer_shots(registry):
    _, three = requests_for(registry, "gsm8k", ProfileChoice("lm_eval", RunOverrides(variant="cot_8shot",
                                                                                      num_fewshot=3)))
    assert three[0].prompt.count("\nA: ") == 3 and three[0].prompt.endswith("\nA:")


def test_system_instruction_is_a_system_turn_or_text_before_a_plain_prompt(registry):
    _, chat = requests_for(registry, "gsm8k", ProfileChoice(overrides=RunOverrides(system_instruction="Be brief.")))
    assert chat[0].messages[0] == {"role": "system", "content": "Be brief."}
    _, plain = requests_for(registry, "arc_challenge",
                            ProfileChoice("lm_eval", RunOverrides(system_instruction="Be brief.")))
    assert plain[0].context.startswith("Be brief.\n\nQuestion: ")


def test_the_chat_template_turns_a_plain_prompt_into_one_user_turn(registry):
    evaluation, requests = requests_for(registry, "gsm8k", ProfileChoice("lm_eval", RunOverrides(
        variant="cot_8shot", chat_template=True)))
    (turn,) = requests[0].messages
    assert turn["role"] == "user" and turn["content"].startswith("Q: There are 15 trees")
    assert requests[0].prompt is None and evaluation.spec.use_chat_template


def test_gen_kwargs_and_seed_are_sent_with_every_request(registry):
    sampling = (*parse_gen_kwargs("max_gen_toks=17,temperature=0.5"), ("seed", 7))
    choice = ProfileChoice(overrides=RunOverrides(gen_kwargs=sampling))
    _, requests = requests_for(registry, "mt_bench", choice)  # MT-Bench sets a temperature per category itself
    assert {(r.sampling.max_tokens, r.sampling.temperature, r.sampling.seed) for r in requests} == {(17, 0.5, 7)}


def test_fewshot_from_a_file_gives_the_exemplars_in_order(registry, tmp_path):
    rows = [{"question": f"What is {n} + {n}?", "answer": f"{n} + {n} = {2 * n}\n#### {2 * n}"} for n in range(1, 6)]
    path = tmp_path / "shots.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    choice = ProfileChoice("lm_eval", RunOverrides(fewshot_file=str(path), fewshot_digest="d1"))
    evaluation, requests = requests_for(registry, "gsm8k", choice)
    assert evaluation.variant == "5shot"
    prompt = requests[0].prompt
    assert prompt.startswith("Question: What is 1 + 1?\nAnswer: 1 + 1 = 2\n#### 2\n\nQuestion: What is 2 + 2?")
    assert prompt.count("Question:") == 6 and evaluation.spec.fewshot_source == "file:d1"


def test_train_split_exemplars_offline_are_a_clear_error(registry):
    evaluation = resolve_evaluation(registry, MODEL, "gsm8k", ProfileChoice("lm_eval"))
    with pytest.raises(EvaluationError, match="5 exemplars per item asked for, the few-shot pool has 0; exemplars "
                                              "come from the dataset's train split"):
        fewshot_pool(evaluation, [])


def test_each_override_is_its_own_profile_and_identical_overrides_are_the_same(registry):
    ids = {resolve_evaluation(registry, MODEL, "arc_challenge", ProfileChoice("lm_eval", o)).profile
           for o in (RunOverrides(), RunOverrides(dtype="float32"), RunOverrides(limit=10),
                     RunOverrides(dtype="float32", limit=10), RunOverrides(system_instruction="x"))}
    assert len(ids) == 5
    again = resolve_evaluation(registry, MODEL, "arc_challenge", ProfileChoice("lm_eval", RunOverrides(limit=10)))
    assert again.profile in ids


BAD_VALUES = {
    "unknown gen kwarg": (["--gen-kwargs", "frequency=1"], "--gen-kwargs: frequency: Extra inputs are not permitted"),
    "gen kwarg without =": (["--gen-kwargs", "temperature"], "--gen-kwargs: 'temperature' is not key=value"),
    "bad temperature": (["--gen-kwargs", "temperature=9"], "temperature: Input should be less than or equal to 2"),
    "too many shots": (["--dataset", "gsm8k", "--variant", "cot_8shot", "--num-fewshot", "9"],
                       "gsm8k variant 'cot_8shot' has 8 few-shot exemplar(s); 9 requested"),
    "negative shots": (["--num-fewshot", "-1"], "--num-fewshot must be 0 or more (got -1)"),
    "unknown variant": (["--dataset", "mmlu", "--variant", "10shot"], "mmlu has no variant '10shot'"),
    "chat off on a chat variant": (["--dataset", "mmlu", "--variant", "chat_5shot", "--no-chat-template"],
                                   "mmlu variant 'chat_5shot' is a conversation and cannot run without the chat "
                                   "template"),
    "gen kwargs on log-likelihoods": (["--dataset", "hellaswag", "--gen-kwargs", "max_tokens=5"],
                                      "hellaswag variant '0shot' scores log-likelihoods: generation settings "
                                      "(max_tokens) do not apply"),
    "unknown profile": (["--profile", "lm_evl"], "unknown profile 'lm_evl' (did you mean 'lm_eval'?)"),
    "bad dtype": (["--dtype", "fp8"], "--dtype 'fp8': expected one of float32, bfloat16, float16"),
    "zero limit": (["--limit", "0"], "--limit must be positive (got 0)"),
    "limit and items": (["--limit", "3", "--items", "ITEMS"], "--limit and --items both choose the items"),
    "missing items file": (["--items", "/no/such/file"], "--items /no/such/file: cannot read"),
    "seed disagrees": (["--seed", "1", "--gen-kwargs", "seed=2"], "--seed 1 and --gen-kwargs seed=2 disagree"),
}


@pytest.mark.parametrize("case", BAD_VALUES, ids=list(BAD_VALUES))
def test_each_bad_value_is_a_clear_error(case, tmp_path):
    args, message = BAD_VALUES[case]
    items = tmp_path / "items.txt"
    items.write_text("Mercury_7175875\n")
    args = [str(items) if a == "ITEMS" else a for a in args]
    result = run_cli("plan", "--model", MODEL, *args, "--no-status", home=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_chat_template_on_a_log_likelihood_variant_is_planned_as_chat(tmp_path):
    """lm-eval's --apply_chat_template works on log-likelihood tasks; so does --chat-template here."""
    result = run_cli("plan", "--model", MODEL, "--dataset", "arc_challenge", "--profile", "lm_eval", "--chat-template",
                     "--json", "--no-status", home=tmp_path)
    assert result.returncode == 0, result.stderr
    (partition,) = json.loads(result.stdout)["partitions"]
    assert (partition["variant"], partition["chat_template"]) == ("0shot", True)


def test_plan_shows_the_profile_variant_and_derived_name(tmp_path):
    result = run_cli("plan", "--model", MODEL, "--dataset", "arc_challenge", "--profile", "lm_eval", "--dtype",
                     "float32", "--json", "--no-status", home=tmp_path)
    assert result.returncode == 0, result.stderr
    (partition,) = json.loads(result.stdout)["partitions"]
    assert partition["variant"] == "0shot" and partition["profile"].startswith("lm_eval~")
    assert partition["profile_label"] == "lm_eval with dtype=float32"


def test_registry_profiles_are_checked_against_the_benchmarks(tmp_path):
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    shipped = Path(__file__).resolve().parents[2] / "registry"
    for file in shipped.glob("*.yaml"):
        (registry_dir / file.name).write_text(file.read_text())
    profiles = (registry_dir / "profiles.yaml").read_text()
    (registry_dir / "profiles.yaml").write_text(profiles.replace("gsm8k: {variant: 5shot}         #",
                                                                 "gsm8k: {variant: 6shot}         #"))
    result = run_cli("validate", "--registry", str(registry_dir), home=tmp_path)
    assert result.returncode == 1
    assert "profiles.yaml: lm_eval.benchmarks.gsm8k: gsm8k has no variant '6shot'" in result.stderr


def test_unknown_benchmarks_in_a_profile_name_the_file_and_key(tmp_path):
    assert get_benchmark("gsm8k")  # the module exists; the typo below does not
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    shipped = Path(__file__).resolve().parents[2] / "registry"
    for file in shipped.glob("*.yaml"):
        (registry_dir / file.name).write_text(file.read_text())
    profiles = (registry_dir / "profiles.yaml").read_text()
    (registry_dir / "profiles.yaml").write_text(profiles.replace("      hellaswag: {variant: 0shot}\n      gsm8k",
                                                                 "      hellaswg: {variant: 0shot}\n      gsm8k", 1))
    result = run_cli("validate", "--registry", str(registry_dir), home=tmp_path)
    assert result.returncode == 1
    assert "profiles.yaml: lm_eval.benchmarks.hellaswg: no dataset runs benchmark 'hellaswg' (did you mean " \
           "'hellaswag'?)" in result.stderr
