"""Preprocessing-side helpers: input checks that report and never modify."""

from __future__ import annotations

from tmekit.pp._check import CheckReport, Problem, check, detect_gene_id_type, detect_species

__all__ = ["CheckReport", "Problem", "check", "detect_gene_id_type", "detect_species"]
