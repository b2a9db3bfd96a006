"""Rule set ``immunoscore``: CD3 and CD8 densities in the tumour core (CT) and invasive margin (IM) as percentiles.

Galon et al., Science 2006;313:1960 (CD3/CD8 in CT and IM); Pagès et al., Lancet 2018;391:2128 (the consensus
Immunoscore: the mean of the four density percentiles against a reference cohort; low 0-25%, intermediate
>25-70%, high >70-100%). The original scale I0-I4 counts the densities that are "high"; the per-density cut of
the original studies (Mlecnik et al., JCO 2011) was cohort-derived, so tmekit takes a density as high above the
reference median (``high_percentile``, a parameter). Percentiles rank each density among the reference's
(``percentileofscore``, ties counted half): a table of reference tumours with columns ``CD3_CT``, ``CD3_IM``,
``CD8_CT``, ``CD8_IM`` (cells per mm^2), or the samples of the call itself with ``cohort_relative=True``
(then a sample's call depends on the others, as the method says). Either needs at least 10 tumours with all four
densities (a percentile among 2 samples is no percentile): a smaller cohort leaves every sample indeterminate. A
reference is checked for its units: cells per mm^2 (CD3/CD8 T cells in tumours: tens to thousands per mm^2), not
per um^2 or per cm^2, and no column with a median of 0 (every tumour with one T cell would rank above it).
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
#: Fewest tumours a percentile is taken among (the reference table, or the call's samples with cohort_relative).
MIN_REFERENCE = 10
#: Reference densities outside this band (cells per mm^2) are in another unit: a median T-cell density below 1 per
#: mm^2 is one cell in a square millimetre (per um^2 values are ~1e-4); above 50,000 per mm^2 is more cells than fit
#: (packed 5 um lymphocytes: 40,000 per mm^2).
PLAUSIBLE_PER_MM2 = (1.0, 50_000.0)


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
    if bad.any() or len(values) < MIN_REFERENCE:
        msg = (
            f"The Immunoscore reference needs >= {MIN_REFERENCE} tumours with four non-negative densities; it has "
            f"{len(values)} rows, {int(bad.sum())} with missing or negative values."
        )
        raise ValueError(msg)
    zero = [c for c in DENSITIES if values[c].median() == 0]
    if zero:
        msg = (
            f"The Immunoscore reference's median of {zero} is 0: against it every tumour with a single T cell there "
            "would rank high. A reference needs tumours with T cells (Immunoscore's: hundreds of colon cancers); "
            "check that the columns hold densities, or use `cohort_relative=True` on a cohort of >= 10."
        )
        raise ValueError(msg)
    positive = values.to_numpy(float)[values.to_numpy(float) > 0]
    typical, high = float(np.median(positive)), float(positive.max())
    lo, hi = PLAUSIBLE_PER_MM2
    if typical < lo or high > hi:
        factor = "1e6 (per um^2 -> per mm^2)" if typical < lo else "0.01 (per cm^2 -> per mm^2)"
        msg = (
            f"The Immunoscore reference densities are not cells per mm^2: their median is {typical:.3g} and their "
            f"maximum {high:.3g}, where T-cell densities in tumours are tens to thousands per mm^2 ({lo:g}-{hi:g} is "
            f"possible). Convert them first (multiply by {factor}): the call's own densities are per mm^2."
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
        reference = reference[np.isfinite(reference.to_numpy()).all(axis=1)]
        if len(reference) < MIN_REFERENCE:  # a percentile among a handful of samples: no call
            reference = reference.iloc[:0]
    else:
        reference = context["percentile_reference"]
    out = pd.DataFrame(index=m.index)
    high = []
    for name, column in DENSITIES.items():
        ref = reference[name].to_numpy(float)
        out[f"percentile_{name}"] = _percentile(ref, m[column].to_numpy(float))
        cut = np.nanpercentile(ref, t["high_percentile"]) if np.isfinite(ref).any() else np.inf
        high.append(m[column].to_numpy(float) > cut)
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
            "immunoscore_mean_percentile": (
                f"cohort_relative=True ranks each tumour among the call's samples with all four densities, and "
                f"fewer than {MIN_REFERENCE} have them: pass `immunoscore_reference=` (>= {MIN_REFERENCE} tumours) or "
                "call a larger cohort"
            ),
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
