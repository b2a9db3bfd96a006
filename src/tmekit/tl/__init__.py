"""Tools: signature scoring (and, later, annotation, aggregation and phenotype classification)."""

from __future__ import annotations

from tmekit.tl._annotate import annotate
from tmekit.tl._classify import RULES, classify
from tmekit.tl._score import score, score_methods

__all__ = ["RULES", "annotate", "classify", "score", "score_methods"]
