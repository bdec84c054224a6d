"""Pure scoring helpers shared by the benchmarks: statistics, multiple-choice metrics, answer extraction,
reasoning-model handling. No engine, no I/O; import freely."""

from llmeval_assets.scoring.extraction import LETTERS, choice_letters, extract_choice_letter
from llmeval_assets.scoring.multiple_choice import ChoiceScore, score_choices
from llmeval_assets.scoring.reasoning import ReasoningSplit, split_reasoning
from llmeval_assets.scoring.stats import (
    MeanEstimate,
    PairedComparison,
    clustered_mean_stderr,
    macro_mean_stderr,
    mean_stderr,
    paired_comparison,
    pass_at_k,
)

__all__ = [
    "LETTERS", "ChoiceScore", "MeanEstimate", "PairedComparison", "ReasoningSplit", "choice_letters",
    "clustered_mean_stderr", "extract_choice_letter", "macro_mean_stderr", "mean_stderr", "paired_comparison",
    "pass_at_k", "score_choices", "split_reasoning",
]
