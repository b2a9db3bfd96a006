"""Rule set ``intratumoral_stromal``: CD8 T cells in the tumour epithelium vs the stroma around it, tile by tile.

For carcinomas with many nests, where a single 500 um Immunoscore band has no core: the classes of Hammerl et al.
(Nat Commun 2021;12:5668, TNBC): inflamed (CD8 T cells in the epithelium), excluded (in the stroma, not in the
epithelium) and ignored (few in either); the stromal compartment as the International TILs Working Group reads
it (stroma within the tumour's borders). Hammerl's own cut-offs were not available here, so the decision follows
the tile scheme of Park et al. (J Clin Oncol 2022;40:1916, Lunit SCOPE IO: each tile inflamed, excluded or
desert from its epithelial and stromal densities; the tumour inflamed if more than a third of its tiles are
inflamed, excluded if more than a third are excluded, else desert) with CD8 cuts of the HNSCC immunotypes
(J Immunother Cancer 2024;12:e009550: 100 CD8/mm^2 in tumour, 200/mm^2 around it). Epithelium: inside the
tumour region; stroma: outside it, within the margin band (each nest's own band on many-nest slides). Tiles as
in :func:`tmekit.sp.tile_table`; tumour tiles (at least 5% of their tissue inside the tumour) count one each,
as Park's grids do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit.tl._phenotype.rules import PhenotypeRule, Plane, register_rule

if TYPE_CHECKING:
    from collections.abc import Mapping


#: A tile takes part when at least this share of its tissue is tumour epithelium (slivers of a nest are noise).
MIN_TUMOUR_SHARE = 0.05


def tile_shares(
    rows: pd.DataFrame, weights: np.ndarray, factor: np.ndarray, epithelial_cut: float, stromal_cut: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate: the share of the tumour's tiles that are inflamed, and that are excluded.

    A tumour tile has at least :data:`MIN_TUMOUR_SHARE` of its tissue inside the tumour region. It is inflamed
    when its epithelial CD8 density (times the replicate's measurement factor) exceeds ``epithelial_cut``, else
    excluded when its stromal density does ``stromal_cut``. Tiles count as often as the replicate drew them.
    """
    area, tissue = rows["area_inside"].to_numpy(float), rows["area_tissue"].to_numpy(float)
    epi = np.divide(rows["n_cd8_inside"].to_numpy(float), area, out=np.zeros(len(area)), where=area > 0)
    peri_area = rows["area_peri"].to_numpy(float)
    peri = np.divide(rows["n_cd8_peri"].to_numpy(float), peri_area, out=np.zeros(len(area)), where=peri_area > 0)
    tumour = (area > 0) & (area >= MIN_TUMOUR_SHARE * tissue)
    inflamed = epi[None, :] * factor[:, None] > epithelial_cut
    excluded = ~inflamed & (peri[None, :] * factor[:, None] > stromal_cut)
    drawn = weights * tumour[None, :]
    total = drawn.sum(axis=1)
    shares = [np.divide((drawn * kind).sum(axis=1), total, out=np.full(len(total), np.nan), where=total > 0)
              for kind in (inflamed, excluded)]  # fmt: skip
    return shares[0], shares[1]


def derive(m: pd.DataFrame, *, rows: pd.DataFrame, weights: np.ndarray, factor: np.ndarray,
           thresholds: Mapping[str, float], context: Mapping[str, Any]) -> pd.DataFrame:  # fmt: skip
    """Shares of the tumour tiles that are inflamed and that are excluded."""
    inflamed, excluded = tile_shares(rows, weights, factor, thresholds["epithelial_cd8_per_mm2"],
                                     thresholds["stromal_cd8_per_mm2"])  # fmt: skip
    return pd.DataFrame({"share_tiles_inflamed": inflamed, "share_tiles_excluded": excluded}, index=m.index)


def decide(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    """Inflamed above the tile share; else excluded above it; else ignored."""
    inflamed, excluded = m["share_tiles_inflamed"].to_numpy(float), m["share_tiles_excluded"].to_numpy(float)
    share = t["tile_share"]
    out = np.where(inflamed > share, "inflamed", np.where(excluded > share, "excluded", "ignored")).astype(object)
    out[np.isnan(inflamed)] = "indeterminate"
    return out


RULE = register_rule(
    PhenotypeRule(
        name="intratumoral_stromal",
        description=(
            "Intratumoral vs stromal CD8 (Hammerl 2021 classes, Park 2022 tile scheme): a tile is inflamed when CD8 "
            "T cells in its tumour epithelium > 100/mm^2, else excluded when in its peritumoral stroma > 200/mm^2; "
            "the tumour is inflamed when > 1/3 of its tumour tiles are inflamed, else excluded when > 1/3 are "
            "excluded, else ignored."
        ),
        source="Hammerl D, et al. Nat Commun 2021;12:5668. doi:10.1038/s41467-021-25962-0 (classes); Park S, et "
        "al. J Clin Oncol 2022;40:1916. doi:10.1200/JCO.21.02010 (tiles, 1/3 shares); CD8 cuts: J Immunother "
        "Cancer 2024;12:e009550",
        thresholds={"epithelial_cd8_per_mm2": 100.0, "stromal_cd8_per_mm2": 200.0, "tile_share": 1.0 / 3.0},
        reads=("density_cd8_intratumoral", "density_cd8_stromal"),
        decide=decide,
        classes=("inflamed", "excluded", "ignored"),
        derive=derive,
        hints={"density_cd8_intratumoral": "no area inside the tumour region"},
        plane=Plane(
            x="share_tiles_inflamed",
            y="share_tiles_excluded",
            x_label="share of tumour tiles inflamed",
            y_label="share of tumour tiles excluded",
            x_line=lambda t: t["tile_share"],
            y_line=lambda t: t["tile_share"],
        ),
    )
)
