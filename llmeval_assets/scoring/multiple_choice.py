"""Multiple-choice metrics from per-choice log-likelihoods, as lm-evaluation-harness computes them.

acc:      the choice with the highest summed log-likelihood is the gold one.
acc_norm: the same after dividing each log-likelihood by the choice's length in characters (lm-eval's
          `acc_norm`: `len(choice)` of the choice text, without the leading space delimiter), which removes the
          bias towards short answers that plain summed log-likelihoods have.
Ties go to the lowest index (numpy's argmax), as in lm-eval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ChoiceScore:
    pred: int  # argmax of the log-likelihoods
    pred_norm: int  # argmax of the length-normalized log-likelihoods
    acc: float
    acc_norm: float


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def score_choices(logprobs: Sequence[float], choice_lengths: Sequence[int], gold: int) -> ChoiceScore:
    """acc and acc_norm for one item. `choice_lengths` are the character lengths of the choice texts."""
    if len(logprobs) != len(choice_lengths):
        raise ValueError(f"{len(logprobs)} log-likelihoods for {len(choice_lengths)} choices")
    if not 0 <= gold < len(logprobs):
        raise ValueError(f"gold index {gold} outside 0..{len(logprobs) - 1}")
    pred = _argmax(logprobs)
    # max(1, ...) keeps an empty choice text from dividing by zero; lm-eval would produce inf/nan there
    pred_norm = _argmax([lp / max(1, length) for lp, length in zip(logprobs, choice_lengths, strict=True)])
    return ChoiceScore(pred=pred, pred_norm=pred_norm, acc=float(pred == gold), acc_norm=float(pred_norm == gold))
