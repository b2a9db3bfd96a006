"""Rule set ``keren2018``: cold / compartmentalized / mixed from immune density and the mixing score (cells)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tmekit.tl._phenotype.rules import PhenotypeRule, Plane, register_rule

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd


def cold_density(t: Mapping[str, float]) -> float:
    """Keren's 250 immune cells per 800 um field as a density (per mm^2 of tissue)."""
    return t["cold_immune_per_field"] / (t["field_um"] / 1000.0) ** 2


def decide(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    """Desert (cold) below the immune density; else excluded (compartmentalized) below the mixing threshold.

    Indeterminate without an immune density (no tissue area), or when not cold and without a mixing score.
    """
    density = m["density_immune_tissue"].to_numpy(float)
    cold = density < cold_density(t)
    mixing = m["mixing_fraction"].to_numpy(float)
    out = np.where(mixing < t["mixing_threshold"], "excluded", "inflamed").astype(object)
    out[np.isnan(mixing)] = "indeterminate"
    out[cold] = "desert"
    out[np.isnan(density)] = "indeterminate"
    return out


RULE = register_rule(
    PhenotypeRule(
        name="keren2018",
        description=(
            "Keren et al. 2018 (MIBI TNBC): cold (-> desert) when fewer than 250 immune cells per 800 um field, "
            "scaled to the sample's tissue area (390.6 per mm^2); otherwise compartmentalized (-> excluded) when "
            "the mixing score is below 0.22; else mixed (-> inflamed). The mixing score is the one the authors "
            "classified on: immune-tumour contacts / (immune-tumour + immune-immune contacts) between touching "
            "cells (contacts='touching')."
        ),
        source="Keren L, et al. Cell 2018;174:1373-1387. doi:10.1016/j.cell.2018.08.039; the score as in the "
        "authors' code (github.com/angelolab/TNBC: the classification reads mixingDataDivByImmune, "
        "IT / (II + IT) of touching cells)",
        thresholds={"cold_immune_per_field": 250.0, "field_um": 800.0, "mixing_threshold": 0.22},
        reads=("density_immune_tissue", "mixing_fraction", "immune_tumor_contacts", "immune_immune_contacts"),
        decide=decide,
        plane=Plane(
            x="density_immune_tissue",
            y="mixing_score",
            x_label="immune cells per mm^2 of tissue",
            y_label="mixing score (immune-tumour / immune-immune contacts)",
            x_line=cold_density,
            y_line=lambda t: t["mixing_threshold"],
        ),
    )
)
