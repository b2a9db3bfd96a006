"""Rule set ``til_pdl1_ic``: the four TIL x PD-L1 types of Teng 2015 with PD-L1 read as the SP142 IC score.

The VENTANA PD-L1 (SP142) assay, the atezolizumab companion diagnostic, scores PD-L1 on tumour-infiltrating
immune cells: the **IC score** is the percentage of the tumour area (tumour cells with their intratumoral and
contiguous peritumoral stroma) occupied by PD-L1+ immune cells, in bands IC0 < 1%, IC1 1-5%, IC2 5-10%,
IC3 >= 10% (IMvigor210, Rosenberg et al. Lancet 2016;387:1909; IMpower110, Herbst et al. N Engl J Med
2020;383:1328). tmekit computes it from cells: the area of PD-L1+ immune cells inside the tumour region (tumour
core and invasive margin as :func:`tmekit.sp.compartments` draws them) over that region's area (cell areas from a
segmentation column or estimated; see ``tmekit._pdl1``). It is the PD-L1 reading for panels that type PD-L1 on
immune cells, where the tumour proportion score of ``til_pdl1`` is not measured.

- TIL+ exactly as ``til_pdl1``: CD8 T cells inside the tumour region above 100 per mm^2;
- PD-L1+ when IC >= 1% (IC1/2/3, the SP142 cut of IMvigor210).

The table carries ``ic_category`` (IC0-IC3) beside ``ic_percent``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tmekit._pdl1 import ic_category
from tmekit.tl._phenotype.til_pdl1 import teng_rule

_HINTS = {
    "ic_percent": "no immune cell in the tumour region with a known PD-L1 status, or no tumour region",
    "density_cd8_intratumoral": "no area inside the tumour region",
}


def derive(m: pd.DataFrame, **_: Any) -> pd.DataFrame:
    """The SP142 band (IC0-IC3) of each IC score (empty where it is missing)."""
    return pd.DataFrame({"ic_category": ic_category(m["ic_percent"].to_numpy(float))}, index=m.index)


RULE = teng_rule(
    "til_pdl1_ic",
    "ic_percent",
    "ic_min_percent",
    "PD-L1+ immune cells cover >= 1% of the tumour region (IC1-3)",
    pdl1_source="VENTANA PD-L1 (SP142) assay interpretation, IMvigor210 (Rosenberg JE, et al. Lancet 2016;387:1909, "
    "IC0 < 1%, IC1 1-5%, IC2 5-10%, IC3 >= 10%)",
    y_label="PD-L1 IC score (% of tumour area, SP142)",
    derive=derive,
    hints=_HINTS,
)
