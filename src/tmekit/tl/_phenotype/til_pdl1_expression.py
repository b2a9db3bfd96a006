"""TIL x PD-L1 types inferred from bulk or pseudobulk expression (``classify(mode="expression", rules="til_pdl1")``).

Expression has no view of where T cells or PD-L1 are, so the type is *inferred* (``inferred=True``) from two
shipped binary models fitted on IMvigor210 (``tools/fit_til_pdl1_models.py``; provenance in the file):

- PD-L1+ from CD274 expression, fitted to PD-L1 on >= 1% of tumour cells by IHC (``tc_level`` TC1/TC2+, the
  analogue of TPS >= 1%): nested-CV balanced accuracy 0.79 +/- 0.06 on 347 samples; the same call agrees with
  PD-L1 on immune cells (``ic_level`` IC2+), which it never saw, at balanced accuracy 0.70;
- TIL+ from the CD8 T-effector signature, fitted to the pathologist's "inflamed" on the 142 calibration
  patients: nested-CV balanced accuracy 0.79 +/- 0.08.

Each sample is standardised on its own against the models' fixed reference, as the phenotype model is.
``confidence`` = the product of the two calls' probabilities (each times its gene coverage).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit.tl._phenotype.expression import expression_calls
from tmekit.tl._phenotype.model import PhenotypeModel
from tmekit.tl._phenotype.til_pdl1 import ALIASES

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["MODELS_FILE", "til_pdl1_expression_calls", "til_pdl1_models"]

MODELS_FILE = "imvigor210_til_pdl1.json"


@cache
def til_pdl1_models() -> dict[str, PhenotypeModel]:
    """The shipped models: ``{"pdl1": CD274 -> PD-L1+/-, "til": CD8 T effector -> TIL+/-}``."""
    text = resources.files("tmekit.tl").joinpath("models", MODELS_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("format") != "tmekit-til-pdl1-models/1":
        msg = f"{MODELS_FILE} is not a tmekit TIL x PD-L1 model file."
        raise ValueError(msg)
    return {part: PhenotypeModel.from_dict(data[part]) for part in ("pdl1", "til")}


def til_pdl1_expression_calls(adata: AnnData, **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Any], np.ndarray]:
    """``(table, params, sample of each observation)``: each sample's inferred type, unwritten.

    ``kwargs`` are those of :func:`~tmekit.tl._phenotype.expression.expression_calls` except ``model``.
    """
    models = til_pdl1_models()
    pdl1, pdl1_params, sample_of = expression_calls(adata, model=models["pdl1"], **kwargs)
    til, til_params, _ = expression_calls(adata, model=models["til"], **kwargs)
    a, b = pdl1["phenotype"].astype(str), til["phenotype"].astype(str)
    unknown = (a == "indeterminate") | (b == "indeterminate")
    call = (a + "/" + b).where(~unknown, "indeterminate")
    reason = pdl1["reason"] + np.where((pdl1["reason"] != "") & (til["reason"] != ""), "; ", "") + til["reason"]
    table = pd.DataFrame(
        {
            "phenotype": pd.Categorical(call, categories=[*ALIASES, "indeterminate"]),
            "confidence": (pdl1["confidence"] * til["confidence"]).where(~unknown, 0.0),
            "alias": call.map(ALIASES).fillna(""),
            "pdl1_call": a,
            "til_call": b,
            "p_pdl1_positive": pdl1["p_PD-L1+"],
            "p_til_positive": til["p_TIL+"],
            "feature_cd274": pdl1["feature_cd274"],
            "feature_cd8_teff": til["feature_cd8_teff"],
            "gene_coverage": np.minimum(pdl1["gene_coverage"], til["gene_coverage"]),
            "rules": "til_pdl1",
            "reason": reason,
        },
        index=pdl1.index,
    )
    keep = [c for c in pdl1.columns if c in ("mode", "inferred", "cohort_relative", "species", "input_scale")]
    table = table.join(pdl1[keep])
    params = {**pdl1_params, "model": "imvigor210_til_pdl1", "rules": "til_pdl1",
              "model_provenance": json.dumps({"pdl1": models["pdl1"].provenance, "til": models["til"].provenance}),
              "missing_genes": {**pdl1_params["missing_genes"], **til_params["missing_genes"]}}  # fmt: skip
    return table, params, sample_of
