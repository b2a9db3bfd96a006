"""Tools: signature scoring, marker annotation, pseudobulk aggregation, phenotype classification, association."""

from __future__ import annotations

from tmekit.tl._aggregate import aggregate
from tmekit.tl._annotate import annotate, annotation_labels
from tmekit.tl._associate import associate
from tmekit.tl._classify import RULES, classify
from tmekit.tl._classify_expression import classify_expression
from tmekit.tl._phenotype import CALLS, PhenotypeRule
from tmekit.tl._phenotype.fit import fit_phenotype_model
from tmekit.tl._phenotype.model import PhenotypeModel, load_phenotype_model
from tmekit.tl._phenotype.rules import Plane, register_rule
from tmekit.tl._score import score, score_methods
from tmekit.tl._tcell_states import STATES as TCELL_STATES
from tmekit.tl._tcell_states import tcell_states

__all__ = [
    "CALLS",
    "RULES",
    "TCELL_STATES",
    "PhenotypeModel",
    "PhenotypeRule",
    "Plane",
    "aggregate",
    "annotate",
    "annotation_labels",
    "associate",
    "classify",
    "classify_expression",
    "fit_phenotype_model",
    "load_phenotype_model",
    "register_rule",
    "score",
    "score_methods",
    "tcell_states",
]
