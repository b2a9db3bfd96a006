"""Tools: signature scoring, marker annotation, pseudobulk aggregation, phenotype classification."""

from __future__ import annotations

from tmekit.tl._aggregate import aggregate
from tmekit.tl._annotate import annotate
from tmekit.tl._classify import RULES, classify
from tmekit.tl._fit_phenotype import fit_phenotype_model
from tmekit.tl._phenotype_model import PhenotypeModel, load_phenotype_model
from tmekit.tl._score import score, score_methods

__all__ = [
    "RULES",
    "PhenotypeModel",
    "aggregate",
    "annotate",
    "classify",
    "fit_phenotype_model",
    "load_phenotype_model",
    "score",
    "score_methods",
]
