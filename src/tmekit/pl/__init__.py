"""Plots: each takes ``ax=`` and returns the figure; none shows or saves by itself."""

from __future__ import annotations

from tmekit.pl._cohort import associations, response_rates, survival
from tmekit.pl._frameworks import cd8_tiles, immunoscore, til_pdl1
from tmekit.pl._pdl1 import pdl1_map
from tmekit.pl._scores import phenotypes, score_groups, score_spatial, score_violin, teff_ftbrs
from tmekit.pl._spatial import compartments, infiltration
from tmekit.pl._tcells import tcell_states

__all__ = [
    "associations",
    "cd8_tiles",
    "compartments",
    "immunoscore",
    "infiltration",
    "pdl1_map",
    "phenotypes",
    "response_rates",
    "score_groups",
    "score_spatial",
    "score_violin",
    "survival",
    "tcell_states",
    "teff_ftbrs",
    "til_pdl1",
]
