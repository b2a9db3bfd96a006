"""Preprocessing-side helpers: input checks that report and never modify, and the cell types' roles."""

from __future__ import annotations

from tmekit.pp._cell_types import cell_types
from tmekit.pp._check import CheckReport, Problem, check, detect_gene_id_type, detect_species

__all__ = ["CheckReport", "Problem", "cell_types", "check", "detect_gene_id_type", "detect_species"]
