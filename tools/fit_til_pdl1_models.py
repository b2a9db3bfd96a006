"""Refit the shipped TIL x PD-L1 expression models from ../shared/data/imvigor210 (maintainers only).

    .venv/bin/python tools/fit_til_pdl1_models.py [--shared ../shared/data] [--check]

Two binary models, each ``tk.tl.fit_phenotype_model`` on one pre-specified feature (nested CV as for the
phenotype model), that infer Teng 2015's TIL x PD-L1 type from bulk expression:

- PD-L1: CD274 expression -> PD-L1 on >= 1% of tumour cells by IHC (``tc_level`` TC1 or TC2+, SP142), the
  analogue of TPS >= 1%, on the 347 IMvigor210 samples with a ``tc_level`` (a covariate, not a held-out label).
  Agreement with the immune-cell score (``ic_level`` IC2+) is reported beside it, as an outside check.
- TIL: the CD8 T-effector signature (Mariathasan 2018) -> the pathologist's "inflamed" (CD8 T cells in contact
  with tumour cells) on the 142 calibration patients only (the held-out half is never read).

The bladder log2 TPM file is the per-gene reference that lets the models read log expression. Writes
src/tmekit/tl/models/imvigor210_til_pdl1.json; --check refits and compares instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

import tmekit as tk

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "tmekit" / "tl" / "models" / "imvigor210_til_pdl1.json"


def fit(shared: Path) -> dict:
    folder = shared / "imvigor210"
    zscores = ad.read_h5ad(folder / "imvigor210_all348_zscore.h5ad")
    reference = ad.read_h5ad(folder / "imvigor210_bladder195_log2tpm.h5ad")
    obs = zscores.obs.set_index(zscores.obs["patient_id"].astype(str))
    tc = obs["tc_level"].dropna().astype(str)
    pdl1_labels = pd.Series(np.where(tc.isin(["TC1", "TC2+"]), "PD-L1+", "PD-L1-"), index=tc.index)
    calibration = pd.read_csv(folder / "imvigor210_calibration_labels.csv").set_index("patient_id")["immune_phenotype"]
    til_labels = pd.Series(np.where(calibration == "inflamed", "TIL+", "TIL-"), index=calibration.index.astype(str))
    common = {"id_key": "patient_id", "reference": reference}
    pdl1 = tk.tl.fit_phenotype_model(
        zscores, pdl1_labels, classes=("PD-L1+", "PD-L1-"), candidates={"cd274": ["CD274"]},
        feature_sets={"cd274": ("cd274",)}, name="imvigor210_pdl1_cd274", **common,
    )  # fmt: skip
    til = tk.tl.fit_phenotype_model(
        zscores, til_labels, classes=("TIL+", "TIL-"), candidates={"cd8_teff": "cd8_teff_mariathasan2018"},
        feature_sets={"cd8_teff": ("cd8_teff",)}, name="imvigor210_til_cd8teff", **common,
    )  # fmt: skip
    # outside check: the CD274 call against PD-L1 on immune cells (IC2+), which the model never saw
    calls = tk.get.phenotypes(tk.tl.classify_expression(zscores, model=pdl1, copy=True))
    ic = obs["ic_level"].reindex(zscores.obs["patient_id"].astype(str)).to_numpy()
    known = pd.notna(ic)
    positive = calls["phenotype"].astype(str).to_numpy()[known] == "PD-L1+"
    ic2 = ic[known] == "IC2+"
    agreement = {
        "ic2_plus_balanced_accuracy": round(float((positive[ic2].mean() + (~positive[~ic2]).mean()) / 2), 3),
        "ic2_plus_agreement": round(float((positive == ic2).mean()), 3),
        "n": int(known.sum()),
    }
    data = "IMvigor210 (Mariathasan et al., Nature 2018, doi:10.1038/nature25501): 348-sample z-score file"
    pdl1.provenance.update({"data": data + "; labels: tc_level TC1/TC2+ (SP142 IHC, >= 1% tumour cells)",
                            "agreement_with_ic_level": agreement, "tmekit_version": tk.__version__})  # fmt: skip
    til.provenance.update({"data": data + "; labels: the 142 calibration patients, inflamed vs not",
                           "tmekit_version": tk.__version__})  # fmt: skip
    return {"format": "tmekit-til-pdl1-models/1", "pdl1": pdl1.to_dict(), "til": til.to_dict()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    models = fit(args.shared)
    for part in ("pdl1", "til"):
        print(part, json.dumps({k: v for k, v in models[part]["provenance"]["cv"].items() if "folds" not in k}))
    print("CD274 call vs ic_level IC2+:", models["pdl1"]["provenance"]["agreement_with_ic_level"])
    if args.check:
        shipped = json.loads(TARGET.read_text())
        same = all(np.allclose(shipped[p]["coef"], models[p]["coef"], atol=1e-8) for p in ("pdl1", "til"))
        print("shipped models reproduced" if same else "shipped models DIFFER from a refit")
        return 0 if same else 1
    tk.io.atomic_write_text(TARGET, json.dumps(models, indent=1) + "\n", overwrite=True)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
