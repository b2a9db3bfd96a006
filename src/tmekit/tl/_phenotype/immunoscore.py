"""Rule set ``immunoscore``: CD3 and CD8 densities in the tumour core (CT) and invasive margin (IM) as percentiles.

Galon et al., Science 2006;313:1960 (CD3/CD8 in CT and IM); Pagès et al., Lancet 2018;391:2128 (the consensus
Immunoscore: the mean of the four density percentiles against a reference cohort; low 0-25%, intermediate
>25-70%, high >70-100%). The original scale I0-I4 counts the densities that are "high"; the per-density cut of
the original studies (Mlecnik et al., JCO 2011) was cohort-derived, so tmekit takes a density as high above the
reference median (``high_percentile``, a parameter). Percentiles rank each density among the reference's
(``percentileofscore``, ties counted half): a table of reference tumours with columns ``CD3_CT``, ``CD3_IM``,
``CD8_CT``, ``CD8_IM`` (cells per mm^2), or the samples of the call itself with ``cohort_relative=True``
(then a sample's call depends on the others, as the method says).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit.tl._phenotype.rules import PhenotypeRule, Plane, register_rule

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DENSITIES", "read_reference"]

#: Immunoscore's four densities and the metrics tmekit measures them with (CD3 = ``t_labels``).
DENSITIES = {
    "CD3_CT": "density_t_core",
    "CD3_IM": "density_t_margin",
    "CD8_CT": "density_cd8_core",
    "CD8_IM": "density_cd8_margin",
}
_MIN_REFERENCE = 10


def read_reference(reference: pd.DataFrame | str | Path | None) -> pd.DataFrame | None:
    """A reference table of CT/IM densities (DataFrame or CSV path), checked: the four columns, numbers >= 0."""
    if reference is None:
        return None
    table = pd.read_csv(reference) if isinstance(reference, str | Path) else pd.DataFrame(reference)
    missing = [c for c in DENSITIES if c not in table.columns]
    if missing:
        msg = (
            f"The Immunoscore reference lacks columns {missing}: it needs {list(DENSITIES)} (cells per mm^2 of CD3+ "
            f"and CD8+ T cells in tumour core and invasive margin, one row per reference tumour); it has "
            f"{list(table.columns)[:8]}."
        )
        raise ValueError(msg)
    values = table[list(DENSITIES)].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1) | (values < 0).any(axis=1)
    if bad.any() or len(values) < _MIN_REFERENCE:
        msg = (
            f"The Immunoscore reference needs >= {_MIN_REFERENCE} tumours with four non-negative densities; it has "
            f"{len(values)} rows, {int(bad.sum())} with missing or negative values."
        )
        raise ValueError(msg)
    return values.reset_index(drop=True)


def _percentile(reference: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Percent of the reference below x, ties counted half (``scipy.stats.percentileofscore(kind="mean")``)."""
    ref = np.sort(reference[np.isfinite(reference)])
    if not len(ref):
        return np.full(len(x), np.nan)
    below = np.searchsorted(ref, x, side="left")
    upto = np.searchsorted(ref, x, side="right")
    out = 100.0 * (below + upto) / (2 * len(ref))
    return np.where(np.isfinite(x), out, np.nan)


def derive(m: pd.DataFrame, *, thresholds: Mapping[str, float], context: Mapping[str, Any], **_: Any) -> pd.DataFrame:
    """Each density's percentile, their mean, and I0-I4 (densities above the reference's ``high_percentile``)."""
    t = thresholds
    if context.get("cohort_relative"):
        cohort = context["cohort"]
        reference = pd.DataFrame({k: cohort[v].to_numpy(float) for k, v in DENSITIES.items()})
    else:
        reference = context["percentile_reference"]
    out = pd.DataFrame(index=m.index)
    high = []
    for name, column in DENSITIES.items():
        ref = reference[name].to_numpy(float)
        out[f"percentile_{name}"] = _percentile(ref, m[column].to_numpy(float))
        high.append(m[column].to_numpy(float) > np.nanpercentile(ref, t["high_percentile"]))
    percentiles = out[[f"percentile_{n}" for n in DENSITIES]].to_numpy()
    out["immunoscore_mean_percentile"] = percentiles.mean(axis=1)  # NaN when a density is missing
    out["immunoscore_i"] = np.where(np.isnan(percentiles).any(axis=1), np.nan, np.sum(high, axis=0))
    return out


def decide(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    """Low up to ``low_max_percentile``; intermediate up to ``intermediate_max_percentile``; else high."""
    mean = m["immunoscore_mean_percentile"].to_numpy(float)
    middle = np.where(mean <= t["intermediate_max_percentile"], "intermediate", "high")
    out = np.where(mean <= t["low_max_percentile"], "low", middle).astype(object)
    out[np.isnan(mean)] = "indeterminate"
    return out


RULE = register_rule(
    PhenotypeRule(
        name="immunoscore",
        description=(
            "Immunoscore: CD3+ and CD8+ T-cell densities in tumour core (CT) and invasive margin (IM), each as a "
            "percentile of a reference cohort; mean percentile <= 25 low, <= 70 intermediate, else high (Pages 2018). "
            "immunoscore_i counts the densities above the reference median (I0-I4, Galon 2006)."
        ),
        source="Galon J, et al. Science 2006;313:1960. doi:10.1126/science.1129139; Pages F, et al. Lancet "
        "2018;391:2128. doi:10.1016/S0140-6736(18)30789-X (mean of four percentiles; 0-25 / >25-70 / >70-100)",
        thresholds={"low_max_percentile": 25.0, "intermediate_max_percentile": 70.0, "high_percentile": 50.0},
        reads=tuple(DENSITIES.values()),
        decide=decide,
        classes=("high", "intermediate", "low"),
        needs=("t_labels", "percentile_reference"),
        derive=derive,
        hints={
            "density_t_core": "no tumour core (CT) area: no CT densities",
            "density_cd8_core": "no tumour core (CT) area: no CT densities",
            "density_t_margin": "no invasive margin (IM) area: no IM densities",
            "density_cd8_margin": "no invasive margin (IM) area: no IM densities",
        },
        plane=Plane(
            x="percentile_CD8_CT",
            y="percentile_CD8_IM",
            x_label="CD8 density percentile, tumour core (CT)",
            y_label="CD8 density percentile, invasive margin (IM)",
            x_line=lambda t: t["high_percentile"],
            y_line=lambda t: t["high_percentile"],
        ),
    )
)
