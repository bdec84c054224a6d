"""Multiple-choice metrics, letter extraction and reasoning-model handling on crafted inputs."""

import pytest

from llmeval_assets.scoring import extract_choice_letter, score_choices, split_reasoning


def test_acc_and_acc_norm_disagree_on_a_long_gold_answer():
    # choice 0 is short and has the highest total log-likelihood; choice 1 (gold) is long but more likely per
    # character: -6/30 = -0.2 beats -2/5 = -0.4
    result = score_choices(logprobs=[-2.0, -6.0, -9.0], choice_lengths=[5, 30, 10], gold=1)
    assert (result.pred, result.pred_norm) == (0, 1)
    assert (result.acc, result.acc_norm) == (0.0, 1.0)


def test_ties_go_to_the_first_choice_like_numpy_argmax():
    assert score_choices([-1.0, -1.0], [3, 3], gold=1).acc == 0.0
    assert score_choices([-1.0, -1.0], [3, 3], gold=0).acc == 1.0


def test_score_choices_rejects_misaligned_input():
    with pytest.raises(ValueError, match="3 log-likelihoods for 2 choices"):
        score_choices([0.0, 0.0, 0.0], [1, 1], gold=0)


@pytest.mark.parametrize("text, expected", [
    (" B.", "B"),
    (" (C)", "C"),
    ("The best answer is D", "D"),
    ("D) because ...", "D"),
    ("a lot of words, no letter", None),  # lowercase "a" is a word, not choice A
    (" E", None),  # not one of the four letters
    ("", None),
])
def test_extract_choice_letter(text, expected):
    assert extract_choice_letter(text, "ABCD") == expected


@pytest.mark.parametrize("text, reasoning_model, expected", [
    ("<think>2+2 is 4</think> The answer is 4.", False, ("The answer is 4.", False)),
    ("2+2 is 4</think>\n\nThe answer is 4.", True, ("The answer is 4.", False)),  # <think> was in the prompt
    ("<think>first</think> x <think>second</think> final", False, ("final", False)),
    ("<think>2+2 is", False, ("", True)),  # ran out of tokens while thinking
    ("2+2 is", True, ("", True)),  # reasoning model, opening tag in the prompt, never closed
    ("The answer is 4.", False, ("The answer is 4.", False)),  # an ordinary model
])
def test_split_reasoning(text, reasoning_model, expected):
    assert tuple(split_reasoning(text, reasoning_model)) == expected
