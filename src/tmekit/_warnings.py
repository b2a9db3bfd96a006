"""Named warning categories, so users can filter exactly what they mean to silence."""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = [
    "IgnoredOptionWarning",
    "InputWarning",
    "MissingGenesWarning",
    "TmekitWarning",
    "UnmatchedIdsWarning",
    "WeightsDroppedWarning",
    "collect_tmekit_warnings",
]


class TmekitWarning(UserWarning):
    """Base class of every warning tmekit raises."""


class MissingGenesWarning(TmekitWarning):
    """Some signature genes are not in ``adata.var_names`` (overlap still above ``min_overlap``)."""


class InputWarning(TmekitWarning):
    """The input data look unusual (for example raw counts where log-normalised values are expected)."""


class IgnoredOptionWarning(TmekitWarning):
    """An option was given that nothing in the call reads (e.g. ``cohort_relative`` without ``immunoscore``)."""


class UnmatchedIdsWarning(TmekitWarning):
    """Some ids of a feature table and of the clinical table do not match (the others are used)."""


class WeightsDroppedWarning(TmekitWarning):
    """A format or method cannot represent signature weights, so they were not used."""


@contextlib.contextmanager
def collect_tmekit_warnings() -> Generator[list[warnings.WarningMessage], None, None]:
    """Collect tmekit's own warnings (each time one occurs) into the yielded list, filled when the block ends.

    Used by the command line and the demo, which show these to the user and put them in the report. A warning
    of any other library is not collected: it is shown as Python shows it (subject to the usual filters), so a
    report's "Warnings" section only ever holds messages about the user's data and tmekit's calls.
    """
    ours: list[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TmekitWarning)
        try:
            yield ours
        finally:
            others = [w for w in caught if not issubclass(w.category, TmekitWarning)]
            ours.extend(w for w in caught if issubclass(w.category, TmekitWarning))
    for w in others:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
