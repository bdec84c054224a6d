"""What `llmeval evaluate` prints around the report refresh: dagster-dbt's echo of every dbt event is held back,
and shown when the run fails (it is then the explanation)."""

from __future__ import annotations

import pytest

from llmeval_assets.launch import EvaluationFailed, _held_stdout


def test_dbt_chatter_is_held_back_when_the_run_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    with _held_stdout(hold=True):
        print("1 of 73 START sql view model staging.stg_metrics")
    assert capsys.readouterr().out == ""


def test_held_output_is_shown_when_the_run_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(EvaluationFailed), _held_stdout(hold=True):
        print("Runtime Error in model leaderboard")
        raise EvaluationFailed("Dagster run r1 (refresh_reports) failed")
    assert capsys.readouterr().out == "Runtime Error in model leaderboard\n"


def test_verbose_shows_everything_as_it_comes(capsys: pytest.CaptureFixture[str]) -> None:
    with _held_stdout(hold=False):
        print("1 of 73 START sql view model staging.stg_metrics")
    assert "staging.stg_metrics" in capsys.readouterr().out
