"""Plots: each takes ``ax=`` and returns the figure; none shows or saves by itself."""

from __future__ import annotations

from tmekit.pl._scores import phenotypes, score_groups, score_spatial, score_violin, teff_ftbrs
from tmekit.pl._spatial import compartments, infiltration

__all__ = ["compartments", "infiltration", "phenotypes", "score_groups", "score_spatial", "score_violin", "teff_ftbrs"]
