"""Rule set ``patterns4``: structured, dispersed, excluded or desert, from how CD8 T cells spread over the tumour.

The four infiltration patterns of the reviews: structured (inflamed: dense intratumoural infiltration),
excluded (immune cells held at the margins), dispersed (irregular, patchy infiltration) and desert. No source
for an operational "dispersed" was found, so tmekit derives one from a published heterogeneity measure: the
share of the tumour's tiles with a high intratumoural CD8 density, as in
Lunit's immune phenotype (a tumour is inflamed when >= 20% of its 1 mm^2 tiles have high intratumoural TIL
density; J Immunother Cancer 2024;12:e008339). Here a tile is "hot" above 100 CD8/mm^2 inside the tumour (the
"infiltrated" cut of J Immunother Cancer 2024;12:e009550); the tumour is **structured** when at least half
of its tiles are hot (tmekit's cut: the infiltrate is the rule, not the exception), **dispersed** when 20% to half
are, **excluded** below 20% with more than 200 CD8/mm^2 in the stroma around the tumour, else
**desert**. Tiles as in :func:`tmekit.sp.tile_table` (1/8 of the field's shorter side, at least 50 um: 1-2 mm on
whole slides, as Lunit's; sub-field heterogeneity on small fields).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit.tl._phenotype.intratumoral_stromal import tile_shares
from tmekit.tl._phenotype.rules import PhenotypeRule, Plane, register_rule

if TYPE_CHECKING:
    from collections.abc import Mapping


def derive(m: pd.DataFrame, *, rows: pd.DataFrame, weights: np.ndarray, factor: np.ndarray,
           thresholds: Mapping[str, float], **_: Any) -> pd.DataFrame:  # fmt: skip
    """The share of the tumour tiles that are hot (per replicate)."""
    hot, _excluded = tile_shares(rows, weights, factor, thresholds["hot_cd8_per_mm2"], np.inf)
    return pd.DataFrame({"share_tiles_hot": hot}, index=m.index)


def decide(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    """Structured / dispersed by the hot-tile share; below it excluded by the stromal density, else desert."""
    hot = m["share_tiles_hot"].to_numpy(float)
    stroma = m["density_cd8_stromal"].to_numpy(float)
    below = np.where(stroma > t["stromal_cd8_per_mm2"], "excluded", "desert")
    out = np.where(hot >= t["infiltrated_share"], "dispersed", below)
    out = np.where(hot >= t["structured_share"], "structured", out).astype(object)
    out[np.isnan(hot) | (np.isnan(stroma) & (hot < t["infiltrated_share"]))] = "indeterminate"
    return out


RULE = register_rule(
    PhenotypeRule(
        name="patterns4",
        description=(
            "Four infiltration patterns: structured when >= 50% of the tumour tiles have > 100 CD8/mm^2 inside the "
            "tumour, dispersed when 20-50% do (Lunit's 20%-of-tiles rule), else excluded when the stroma around it "
            "has > 200 CD8/mm^2, else desert. 'Dispersed' is tmekit's operational definition."
        ),
        source="Share of hot tiles: J Immunother Cancer 2024;12:e008339 (Lunit, >= 20% of 1 mm^2 tiles); CD8 cuts: "
        "J Immunother Cancer 2024;12:e009550; structured >= 50%: tmekit (no published cut found)",
        thresholds={
            "hot_cd8_per_mm2": 100.0,
            "infiltrated_share": 0.2,
            "structured_share": 0.5,
            "stromal_cd8_per_mm2": 200.0,
        },
        reads=("density_cd8_intratumoral", "density_cd8_stromal"),
        decide=decide,
        classes=("structured", "dispersed", "excluded", "desert"),
        derive=derive,
        hints={"density_cd8_stromal": "no stroma around the tumour (margin band outside it)"},
        plane=Plane(
            x="share_tiles_hot",
            y="density_cd8_stromal",
            x_label="share of tumour tiles with > 100 CD8/mm^2 inside the tumour",
            y_label="CD8 T cells per mm^2, stroma around the tumour",
            x_line=lambda t: t["infiltrated_share"],
            y_line=lambda t: t["stromal_cd8_per_mm2"],
        ),
    )
)
