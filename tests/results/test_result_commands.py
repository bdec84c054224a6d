"""`llmeval samples` and `llmeval compare` through the real console script, on the real results DuckDB of
conftest.py: what each shows, how the profile and override options find an overridden run's result, and each
error's exit code and message."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.results.conftest import DATASET

CLI = str(Path(sys.executable).with_name("llmeval"))


def llmeval(env, *args: str) -> subprocess.CompletedProcess:
    variables = {**os.environ, "LLMEVAL_HOME": str(env.home), "LLMEVAL_REGISTRY": str(env.registry_dir)}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=variables, timeout=120, check=False)


def samples_json(env, *args: str) -> dict:
    result = llmeval(env, "samples", "--dataset", DATASET, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_samples_show_prompt_output_answers_gold_score_and_why(results_env):
    payload = samples_json(results_env, "--model", "tiny_a")
    result, records = payload["result"], payload["samples"]
    assert (result["profile"], result["variant"], result["primary_metric"]) == ("default", "0shot", "acc_norm")
    assert result["reference"] == "lm-evaluation-harness arc_challenge"
    assert [r["item_id"] for r in records] == results_env.order[:6]  # the result's own item order
    assert {r["item_id"] for r in records if r["correct"]} == results_env.known("tiny_a")
    first = records[0]
    assert set(first["scores"]) == {"acc", "acc_norm"} and set(first["answers"]) == {"acc", "acc_norm"}
    # the requests as sent: one log-likelihood request per choice, the gold among the continuations
    assert {r["kind"] for r in first["requests"]} == {"LoglikelihoodRequest"}
    assert first["requests"][0]["context"].startswith("Question: ") and first["requests"][0]["context"].endswith(
        "\nAnswer:")
    assert f" {first['target']}" in [r["continuation"] for r in first["requests"]]
    assert len(first["logprobs"]) == len(first["requests"])
    assert first["answers"]["acc_norm"] == first["target"]  # item 0 is one tiny_a answers right
    assert "gold is" in first["explanation"] and "log-likelihoods" in first["explanation"]


def test_wrong_right_and_item_filter_the_samples(results_env):
    wrong = samples_json(results_env, "--model", "tiny_b", "--wrong")["samples"]
    right = samples_json(results_env, "--model", "tiny_b", "--right")["samples"]
    assert {r["item_id"] for r in right} == results_env.known("tiny_b")
    assert {r["item_id"] for r in wrong} == set(results_env.order[:5]) - results_env.known("tiny_b")
    assert all(r["scores"]["acc_norm"] == 0.0 for r in wrong)
    one = samples_json(results_env, "--model", "tiny_b", "--item", results_env.order[3])["samples"]
    assert [r["item_id"] for r in one] == [results_env.order[3]]


def test_samples_as_text(results_env):
    result = llmeval(results_env, "samples", "--model", "tiny_chat", "--dataset", DATASET, "--wrong")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "tiny_chat / arc_challenge · profile default · variant chat_0shot (0-shot, chat) · primary metric acc" \
        in text
    assert "5 of 6 samples shown (the wrong ones; right = full marks on acc)" in text
    assert text.count("· WRONG ·") == 5 and "· RIGHT ·" not in text
    # the prompt as sent: the conversation turn by turn, the reply's prefilled start
    assert "[user] Given the following question" in text and "[assistant, prefilled] The best answer is" in text
    assert "output:\n    " in text and "\nanswer: " in text and "\ngold: " in text


def test_the_profile_and_override_options_find_an_overridden_runs_result(results_env):
    limited = samples_json(results_env, "--model", "tiny_a", "--profile", "lm_eval", "--limit", "3")
    assert limited["result"]["profile_label"] == "lm_eval with limit=3"
    assert [r["item_id"] for r in limited["samples"]] == results_env.dataset_order[:3]
    by_id = samples_json(results_env, "--model", "tiny_a", "--profile", limited["result"]["profile"])
    assert by_id["samples"] == limited["samples"]
    own_category = samples_json(results_env, "--model", "tiny_lm")  # its category's profile is lm_eval
    assert own_category["result"]["profile"] == "lm_eval"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--model", "tiny_x"], 2, "unknown model 'tiny_x' (did you mean"),
    (["--model", "tiny_a", "--profile", "nope"], 2, "unknown profile 'nope'"),
    (["--model", "tiny_a", "--profile", "lm_eval"], 1,
     "no result of tiny_a on arc_challenge under profile lm_eval; stored under: default; lm_eval~"),
    (["--model", "tiny_a", "--num-fewshot", "-1"], 2, "--num-fewshot must be 0 or more (got -1)"),
    (["--model", "tiny_a", "--dtype", "float8"], 2, "--dtype 'float8': expected one of"),
    (["--model", "tiny_a", "--variant", "nope"], 2, "arc_challenge has no variant 'nope'; choose one of 0shot"),
    (["--model", "tiny_a", "--wrong", "--right"], 2, "--wrong and --right exclude each other"),
    (["--model", "tiny_a", "--item", "nope"], 1, "item 'nope' is not an item of the result of tiny_a"),
    (["--model", "tiny_a", "--profile", "lm_eval~8bd90679", "--limit", "3"], 2, "already names a run with "
                                                                                "overrides"),
])
def test_samples_errors(results_env, args, code, message):
    result = llmeval(results_env, "samples", "--dataset", DATASET, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def test_samples_without_a_results_file(results_env, tmp_path):
    variables = {**os.environ, "LLMEVAL_HOME": str(tmp_path), "LLMEVAL_REGISTRY": str(results_env.registry_dir)}
    result = subprocess.run([CLI, "samples", "--model", "tiny_a", "--dataset", DATASET], capture_output=True,
                            text=True, env=variables, timeout=120, check=False)
    assert result.returncode == 1 and "no results yet" in result.stderr


def test_compare_pairs_the_items_both_have(results_env):
    result = llmeval(results_env, "compare", "tiny_a", "tiny_b", "--json")
    assert result.returncode == 0, result.stderr
    (c,) = json.loads(result.stdout)["comparisons"]
    assert (c["dataset"], c["profile"], c["variant"], c["metric"]) == (DATASET, "default", "0shot", "acc_norm")
    # tiny_a is right on items 0, 1, 2 of 6; tiny_b on 0 and 3 of 5: paired on the 5 shared items
    assert (c["n"], c["only_in_a"], c["only_in_b"]) == (5, 1, 0)
    assert (c["mean_a"], c["mean_b"]) == pytest.approx((3 / 5, 2 / 5))
    differences = [0, 1, 1, -1, 0]
    mean = sum(differences) / 5
    stderr = math.sqrt(sum((d - mean) ** 2 for d in differences) / 4 / 5)
    assert (c["difference"], c["stderr"]) == pytest.approx((0.2, stderr))
    assert (c["ci_low"], c["ci_high"]) == pytest.approx((0.2 - 1.959964 * stderr, 0.2 + 1.959964 * stderr))
    assert c["p_value"] == pytest.approx(math.erfc(abs(0.2 / stderr) / math.sqrt(2)))
    assert (c["a_right_only"], c["b_right_only"], c["both_right"], c["neither_right"]) == (2, 1, 1, 1)
    text = llmeval(results_env, "compare", "tiny_a", "tiny_b").stdout
    assert "A - B +0.200 [95% CI" in text and "full marks only from A: 2   only from B: 1" in text
    assert "1 items only A has and 0 only B has are left out" in text


def test_compare_refuses_to_mix_profiles_or_variants(results_env):
    profiles = llmeval(results_env, "compare", "tiny_a", "tiny_lm")
    assert profiles.returncode == 2
    assert ("tiny_a and tiny_lm are evaluated under different profiles on arc_challenge (default vs lm_eval): "
            "give one with --profile") in " ".join(profiles.stderr.split())
    variants = llmeval(results_env, "compare", "tiny_a", "tiny_chat", "--dataset", DATASET)
    assert variants.returncode == 2
    assert "under different variants (0shot vs chat_0shot)" in " ".join(variants.stderr.split())
    # one profile for both: tiny_a has no plain lm_eval result (only one with --limit 3)
    one_profile = llmeval(results_env, "compare", "tiny_a", "tiny_lm", "--profile", "lm_eval")
    assert one_profile.returncode == 1
    assert "no result of tiny_a on arc_challenge under profile lm_eval" in " ".join(one_profile.stderr.split())


@pytest.mark.parametrize(("args", "code", "message"), [
    (["tiny_a", "tiny_x"], 2, "unknown model 'tiny_x'"),
    (["tiny_a", "tiny_a"], 2, "A and B are the same model (tiny_a)"),
    (["tiny_a", "tiny_b", "--dataset", "nope"], 2, "unknown dataset 'nope'"),
    (["tiny_a", "tiny_b", "--profile", "nope"], 2, "unknown profile 'nope'"),
])
def test_compare_errors(results_env, args, code, message):
    result = llmeval(results_env, "compare", *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
