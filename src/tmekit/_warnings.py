"""Named warning categories, so users can filter exactly what they mean to silence."""

from __future__ import annotations

__all__ = ["InputWarning", "MissingGenesWarning", "TmekitWarning", "WeightsDroppedWarning"]


class TmekitWarning(UserWarning):
    """Base class of every warning tmekit raises."""


class MissingGenesWarning(TmekitWarning):
    """Some signature genes are not in ``adata.var_names`` (overlap still above ``min_overlap``)."""


class InputWarning(TmekitWarning):
    """The input data look unusual (for example raw counts where log-normalised values are expected)."""


class WeightsDroppedWarning(TmekitWarning):
    """A format or method cannot represent signature weights, so they were not used."""
