"""Immune-phenotype frameworks: rule sets (one module each), spatial and expression calls, the model, fitting.

Rule sets register themselves on import; a new one is a module here plus its line below.
"""

from __future__ import annotations

from tmekit.tl._phenotype import (  # noqa: F401 - each registers its rule set
    cd8_density,
    immunoscore,
    intratumoral_stromal,
    keren2018,
    patterns4,
    spot_cd8,
    til_pdl1,
    til_pdl1_ic,
)
from tmekit.tl._phenotype.rules import CALLS, RULES, PhenotypeRule

__all__ = ["CALLS", "RULES", "PhenotypeRule"]
