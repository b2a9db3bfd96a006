"""Immune-phenotype frameworks: rule sets (one module each), spatial and expression calls, the model, fitting.

Rule sets register themselves on import; a new one is a module here plus its line below.
"""

from __future__ import annotations

from tmekit.tl._phenotype import cd8_density, keren2018, spot_cd8  # noqa: F401 - each registers its rule set
from tmekit.tl._phenotype.rules import CALLS, RULES, PhenotypeRule

__all__ = ["CALLS", "RULES", "PhenotypeRule"]
