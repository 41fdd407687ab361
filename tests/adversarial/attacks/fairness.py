"""Fairness: correct code that is merely noisy keeps full marks."""

from __future__ import annotations

from tests.adversarial.attacks.kit import (
    FUNCTIONS,
    GRADED,
    Catalogue,
    Context,
    answer_id,
    notebook,
    reference_answers,
    text,
)

ATTACKS = Catalogue("fairness")


NOISY = '''

import sys as _sys
import warnings as _warnings

from tqdm import tqdm as _tqdm

_quiet___NAME__ = __NAME__


def __NAME__(*args, **kwargs):
    """The reference, with a warning, a line on stderr and a progress bar."""
    _warnings.warn("__NAME__: computing", RuntimeWarning, stacklevel=2)
    print("__NAME__ starts", file=_sys.stderr)
    for _ in _tqdm(range(3), desc="__NAME__"):
        pass
    return _quiet___NAME__(*args, **kwargs)
'''


@ATTACKS.attack(
    "noisy_correct",
    15,
    GRADED,
    "correct code that warns, writes to stderr and shows a tqdm progress bar in every function",
)
def _noisy_correct(ctx: Context) -> str:
    answers = reference_answers(ctx.solution)
    code = {
        short: answers[answer_id(short)] + NOISY.replace("__NAME__", function)
        for short, (function, _) in FUNCTIONS.items()
    }
    return text(notebook(ctx, code=code))
