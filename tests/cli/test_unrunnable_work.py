"""Work that cannot run says why and exits non-zero before Dagster or an engine starts (issue 14 §2): unsupported
datasets, models no category evaluates, a judge that cannot judge, a report of an unknown category."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmeval_assets.paths import results_db_path
from llmeval_assets.registry import load_registry
from llmeval_assets.storage.lake import ResultsLake
from llmeval_assets.storage.warehouse import build_results_db

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def llmeval(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    """This worktree's CLI as a user runs it, with its own LLMEVAL_HOME (nothing of the project's is touched)."""
    environ = {**{k: v for k, v in os.environ.items() if k != "LLMEVAL_JUDGE_MODEL"},
               "PYTHONPATH": str(PROJECT_ROOT), "LLMEVAL_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "llmeval_assets.cli.main", *args], capture_output=True, text=True,
                          check=False, timeout=120, cwd=PROJECT_ROOT, env=environ)


def refused(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "partitions are fresh" not in proc.stdout
    assert not proc.stdout.strip()  # no plan, no table
    return " ".join(proc.stderr.split())


@pytest.mark.parametrize(("args", "expected"), [
    (("--category", "coding_specialists", "--dataset", "bigcodebench"),
     "error: nothing to run: bigcodebench: unsupported: no offline copy"),
    (("--model", "bio_clinicalbert"),
     "error: nothing to run: bio_clinicalbert: removed from biomedical_specialists: BERT encoder"),
    (("--model", "claude_sonnet"),
     "error: nothing to run: model 'claude_sonnet' is in no category, so no dataset is chosen for it (add it to a "
     "category in registry/categories.yaml); claude_sonnet: an API model has no weights to load"),
])
@pytest.mark.parametrize("dry_run", [False, True])
def test_evaluate_of_nothing_runnable_says_why(tmp_path, args, expected, dry_run):
    proc = llmeval("evaluate", *args, *(["--dry-run"] if dry_run else []), home=tmp_path)
    assert expected in refused(proc)
    assert not (tmp_path / "dagster").exists()  # no Dagster instance was opened


@pytest.mark.parametrize(("judge", "expected"), [
    (("--judge", "no_such_judge"), "error: --judge no_such_judge: unknown model 'no_such_judge'"),
    (("--judge", "bio_clinicalbert"),
     "error: --judge bio_clinicalbert: 'bio_clinicalbert' (kind encoder) cannot generate judgments; choose a "
     "decoder model"),
    (("--judge", "claude_sonnet"),
     "error: --judge claude_sonnet: 'claude_sonnet' (kind api) cannot generate judgments; choose a decoder model"),
    (("--judge", "qwen2_vl_7b", "--judge-rating-fallback"),
     "error: --judge qwen2_vl_7b: 'qwen2_vl_7b' (kind vision_language) scores no log-likelihoods, which "
     "--judge-rating-fallback needs; choose a decoder model"),
])
def test_a_judge_that_cannot_judge_fails_the_dry_run(tmp_path, judge, expected):
    proc = llmeval("evaluate", "--dry-run", "--model", "smollm2_135m", "--dataset", "mt_bench", *judge,
                   home=tmp_path)
    assert expected in refused(proc)


@pytest.mark.parametrize("command", [("evaluate",), ("plan",)])
def test_a_real_run_and_a_plan_refuse_it_before_anything_runs(tmp_path, command):
    proc = llmeval(*command, "--model", "smollm2_135m", "--dataset", "mt_bench", "--judge", "no_such_judge",
                   home=tmp_path)
    assert "error: --judge no_such_judge: unknown model 'no_such_judge'" in refused(proc)
    assert not (tmp_path / "dagster").exists()  # no Dagster instance, no engine


def test_the_judge_named_by_the_environment_is_checked_too(tmp_path):
    proc = llmeval("evaluate", "--model", "smollm2_135m", "--dataset", "mt_bench", home=tmp_path,
                   LLMEVAL_JUDGE_MODEL="nope")
    assert "error: $LLMEVAL_JUDGE_MODEL=nope: unknown model 'nope'" in refused(proc)


def test_report_of_an_unknown_category(tmp_path):
    proc = llmeval("report", "--category", "NO_SUCH", home=tmp_path)
    assert refused(proc) == "error: unknown category 'NO_SUCH'; `llmeval categories` lists them"
    near = llmeval("report", "--category", "general_purpos", home=tmp_path)
    assert "(did you mean 'general_purpose'?)" in refused(near)


def test_report_of_a_category_without_results(tmp_path):
    build_results_db(ResultsLake(tmp_path / "lake"), load_registry(), results_db_path(tmp_path))  # empty tables
    proc = llmeval("report", "--category", "general_purpose", home=tmp_path)
    assert refused(proc, code=1) == ("error: no results stored for category 'general_purpose' yet: run `llmeval "
                                     "evaluate --category general_purpose` first")


GATED = ("llama31_70b: blocked (gated): meta-llama/Llama-3.1-70B-Instruct is gated: accept the licence on the "
         "hub and set HF_TOKEN")


def test_a_gated_model_without_a_token_fails_the_dry_run_with_the_hint(tmp_path):
    # no token and an empty hub cache: known without asking the hub (unreachable here anyway)
    proc = llmeval("evaluate", "--model", "llama31_70b", "--dry-run", home=tmp_path, HF_TOKEN="",
                   HUGGING_FACE_HUB_TOKEN="", HF_HOME=str(tmp_path / "hf"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert " ".join(proc.stderr.split()) == f"warning: {GATED}; a run would fail when it fetches the weights"
    assert "4 of 4 partitions are stale or missing" in proc.stdout  # the plan is still shown


def test_a_gated_model_without_a_token_is_refused_before_any_run(tmp_path):
    proc = llmeval("evaluate", "--model", "llama31_70b", home=tmp_path, HF_TOKEN="", HUGGING_FACE_HUB_TOKEN="",
                   HF_HOME=str(tmp_path / "hf"))
    assert refused(proc, code=1) == (f"error: cannot fetch the weights of {GATED}; nothing was run (choose other "
                                     "models with --model)")
    assert not (tmp_path / "dagster").exists()
