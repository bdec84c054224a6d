"""Answer extraction shared by several benchmarks (benchmark-specific rules live in the benchmark's module)."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

LETTERS = string.ascii_uppercase


def choice_letters(n_choices: int) -> tuple[str, ...]:
    """("A", "B", ...) for n choices."""
    if not 1 <= n_choices <= len(LETTERS):
        raise ValueError(f"cannot label {n_choices} choices with letters")
    return tuple(LETTERS[:n_choices])


def extract_choice_letter(text: str, letters: Sequence[str]) -> str | None:
    """The first standalone choice letter in a generated answer, e.g. " B." / "(C)" / "The best answer is D"
    -> "B" / "C" / "D". Only uppercase letters count, so the English word "a" is never read as choice A.
    None when no letter from `letters` stands alone in the text."""
    pattern = r"(?<![A-Za-z])([" + "".join(re.escape(letter) for letter in letters) + r"])(?![A-Za-z])"
    match = re.search(pattern, text)
    return match.group(1) if match else None
