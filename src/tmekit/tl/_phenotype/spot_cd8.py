"""Rule set ``spot_cd8``: the ``cd8_density`` rule on deconvolved spot content (Visium-like spots)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tmekit.tl._phenotype.rules import PhenotypeRule, Plane, core_then_margin, register_rule

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    import pandas as pd

#: Cells per mm^2 used to turn the CD8 density thresholds into spot fractions (carcinoma cellularity,
#: ~16 um between cell centres; the tumour density of tk.datasets.synthetic_tissue).
NOMINAL_CELLS_PER_MM2 = 4000.0


def decide(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    """Inflamed above the core fraction; else excluded above the margin fraction; else desert."""
    return core_then_margin(
        m["fraction_cd8_core"], m["fraction_cd8_margin"], t["core_cd8_fraction"], t["margin_cd8_fraction"]
    )


RULE = register_rule(
    PhenotypeRule(
        name="spot_cd8",
        description=(
            "Spot data: the cd8_density rule on deconvolved spot content. Inflamed when the mean CD8 T fraction "
            "of tumour-core spots > 0.025; else excluded when that of invasive-margin spots > 0.05; else "
            "desert. The fractions are the CD8 densities of cd8_density (100 and 200 per mm^2) divided by "
            "a nominal 4,000 cells per mm^2."
        ),
        source="J Immunother Cancer 2024;12:e009550 thresholds (as cd8_density) over a nominal carcinoma "
        "cellularity of 4,000 cells/mm^2; spot content from tk.sp.spot_content.",
        thresholds={
            "core_cd8_fraction": 100.0 / NOMINAL_CELLS_PER_MM2,
            "margin_cd8_fraction": 200.0 / NOMINAL_CELLS_PER_MM2,
        },
        reads=("fraction_cd8_core", "fraction_cd8_margin", "n_spots_core", "n_spots_margin"),
        decide=decide,
        data="spots",
        plane=Plane(
            x="fraction_cd8_core",
            y="fraction_cd8_margin",
            x_label="mean CD8 T fraction, tumour-core spots",
            y_label="mean CD8 T fraction, invasive-margin spots",
            x_line=lambda t: t["core_cd8_fraction"],
            y_line=lambda t: t["margin_cd8_fraction"],
        ),
    )
)
