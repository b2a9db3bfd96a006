"""Rule set ``cd8_density``: CD8 T-cell density in the tumour core vs the invasive margin (cells)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tmekit.tl._phenotype.rules import PhenotypeRule, Plane, core_then_margin, register_rule

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    import pandas as pd


def decide(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    """Inflamed above the core threshold; else excluded above the margin threshold; else desert."""
    return core_then_margin(
        m["density_cd8_core"], m["density_cd8_margin"], t["core_cd8_per_mm2"], t["margin_cd8_per_mm2"]
    )


RULE = register_rule(
    PhenotypeRule(
        name="cd8_density",
        description=(
            "CD8 density in tumour core vs invasive margin: inflamed when core > 100 CD8/mm^2; else excluded when "
            "margin > 200 CD8/mm^2; else desert (HNSCC immunotypes, J Immunother Cancer 2024;12:e009550)."
        ),
        source="J Immunother Cancer 2024;12:e009550 (HNSCC immunotype figure legend); margin as in Immunoscore.",
        thresholds={"core_cd8_per_mm2": 100.0, "margin_cd8_per_mm2": 200.0},
        reads=("density_cd8_core", "density_cd8_margin", "area_core_mm2", "area_margin_mm2"),
        decide=decide,
        plane=Plane(
            x="density_cd8_core",
            y="density_cd8_margin",
            x_label="CD8 T cells per mm^2, tumour core",
            y_label="CD8 T cells per mm^2, invasive margin",
            x_line=lambda t: t["core_cd8_per_mm2"],
            y_line=lambda t: t["margin_cd8_per_mm2"],
        ),
    )
)
