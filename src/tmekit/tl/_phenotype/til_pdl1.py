"""Rule sets ``til_pdl1`` (PD-L1 by TPS) and ``til_pdl1_cps`` (by CPS): the four TIL x PD-L1 types of Teng 2015.

Teng MWL, et al. Cancer Res 2015;75:2139 classify tumours by tumour-infiltrating lymphocytes (TIL) and PD-L1
(B7-H1): PD-L1+/TIL+ adaptive immune resistance (the type most likely to respond to PD-1/PD-L1 blockade),
PD-L1-/TIL- immunological ignorance, PD-L1+/TIL- intrinsic induction, PD-L1-/TIL+ tolerance; the review
numbering is T1 (B7-H1-, TIL-), T2 (B7-H1+, TIL+), T3 (B7-H1-, TIL+), T4 (B7-H1+, TIL-). No operational
cut-off was found in the sources here, so tmekit takes:

- TIL+ when the CD8 T-cell density inside the tumour region (the tumour epithelium: inner margin and core) is
  above 100 per mm^2, the "infiltrated" cut of the HNSCC immunotypes (J Immunother Cancer 2024;12:e009550);
- PD-L1+ when the tumour proportion score TPS = PD-L1+ tumour cells / tumour cells x 100 is at least 1%
  (``til_pdl1``), or the combined positive score CPS = (PD-L1+ tumour cells + PD-L1+ immune cells) / tumour
  cells x 100, capped at 100, is at least 1 (``til_pdl1_cps``): the PD-L1 IHC 22C3 pharmDx cut-offs (TPS 1% and
  50%; CPS 1 and 10). Only cells whose PD-L1 status is known count (an unknown tumour status is not negative).
  CPS counts lymphocytes and macrophages; tmekit counts the ``immune_labels``, so leave granulocytes out of them.
  The table also gives ``tps_band`` (<1%, 1-49%, >=50%) and ``cps_band`` (<1, 1-9, >=10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit.tl._phenotype.rules import PhenotypeRule, Plane, register_rule

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: The four types in the two namings (Teng 2015's and the review's T1-T4).
ALIASES = {
    "PD-L1+/TIL+": "T2: adaptive immune resistance",
    "PD-L1-/TIL-": "T1: immunological ignorance",
    "PD-L1+/TIL-": "T4: intrinsic induction",
    "PD-L1-/TIL+": "T3: tolerance",
}
_HINTS = {
    "tps": "no tumour cell with a known PD-L1 status (check pdl1_key: NaN / <NA> means unknown)",
    "cps": "no tumour cell with a known PD-L1 status (check pdl1_key: NaN / <NA> means unknown)",
    "density_cd8_intratumoral": "no area inside the tumour region",
}


#: The 22C3 pharmDx bands beside the call: TPS < 1%, 1-49%, >= 50%; CPS < 1, 1-9, >= 10.
BANDS = {"tps": ((1.0, 50.0), ("<1%", "1-49%", ">=50%")), "cps": ((1.0, 10.0), ("<1", "1-9", ">=10"))}


def derive(m: pd.DataFrame, **_: Any) -> pd.DataFrame:
    """TPS and CPS in the 22C3 bands (empty where the score is missing)."""
    out = pd.DataFrame(index=m.index)
    for score, (cuts, names) in BANDS.items():
        if score in m.columns:
            values = m[score].to_numpy(float)
            band = np.asarray(names, dtype=object)[np.searchsorted(cuts, np.nan_to_num(values, nan=0.0), side="right")]
            out[f"{score}_band"] = np.where(np.isnan(values), "", band)
    return out


def decider(score: str, key: str) -> Callable[[pd.DataFrame, Mapping[str, float]], np.ndarray]:
    """The TIL x PD-L1 decision on PD-L1 score ``score`` with its cut ``thresholds[key]`` (NaN: indeterminate)."""

    def decide(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
        til = m["density_cd8_intratumoral"].to_numpy(float)
        pdl1 = m[score].to_numpy(float)
        til_pos, pdl1_pos = til > t["til_cd8_per_mm2"], pdl1 >= t[key]
        pairs = zip(pdl1_pos, til_pos, strict=True)
        out = np.array([f"PD-L1{'+' if p else '-'}/TIL{'+' if q else '-'}" for p, q in pairs], dtype=object)
        out[np.isnan(til) | np.isnan(pdl1)] = "indeterminate"
        return out

    return decide


#: The source of the types and the TIL cut, shared by every TIL x PD-L1 rule set.
TENG_SOURCE = (
    "Teng MWL, et al. Cancer Res 2015;75:2139. doi:10.1158/0008-5472.CAN-15-0255 (types); TIL cut: "
    "J Immunother Cancer 2024;12:e009550"
)


def teng_rule(
    name: str, score: str, key: str, label: str, *, pdl1_source: str, y_label: str,
    derive: Callable[..., pd.DataFrame], hints: Mapping[str, str],
) -> PhenotypeRule:  # fmt: skip
    """Register a TIL x PD-L1 rule set: PD-L1 read as ``score`` with its cut ``key`` (1 by default).

    The four Teng types, TIL+ above 100 CD8 T cells per mm^2 inside the tumour; ``label`` says the PD-L1+ cut in words.
    """
    return register_rule(
        PhenotypeRule(
            name=name,
            description=(
                f"TIL x PD-L1 types (Teng 2015): TIL+ when CD8 T cells inside the tumour > 100/mm^2; PD-L1+ when "
                f"{label}. PD-L1+/TIL+ = T2 adaptive resistance, PD-L1-/TIL- = T1 ignorance, PD-L1+/TIL- = T4 "
                "intrinsic induction, PD-L1-/TIL+ = T3 tolerance."
            ),
            source=f"{TENG_SOURCE}; PD-L1 cuts: {pdl1_source}",
            thresholds={"til_cd8_per_mm2": 100.0, key: 1.0},
            reads=("density_cd8_intratumoral", score),
            decide=decider(score, key),
            classes=tuple(ALIASES),
            needs=("pdl1",),
            derive=derive,
            aliases=ALIASES,
            hints=hints,
            plane=Plane(
                x="density_cd8_intratumoral",
                y=score,
                x_label="CD8 T cells per mm^2 inside the tumour",
                y_label=y_label,
                x_line=lambda t: t["til_cd8_per_mm2"],
                y_line=lambda t, key=key: t[key],
            ),
        )
    )


def _rule(name: str, score: str, key: str, label: str) -> PhenotypeRule:
    return teng_rule(name, score, key, label, pdl1_source="PD-L1 IHC 22C3 pharmDx interpretation (TPS 1%, CPS 1)",
                     y_label=f"PD-L1 {score.upper()} (%)", derive=derive, hints=_HINTS)  # fmt: skip


RULE = _rule("til_pdl1", "tps", "tps_percent", "TPS >= 1%")
RULE_CPS = _rule("til_pdl1_cps", "cps", "cps_min", "CPS >= 1")
