"""Refit the shipped expression phenotype model from ../shared/data/imvigor210 (maintainers only).

    .venv/bin/python tools/fit_expression_model.py [--shared ../shared/data] [--check]

Fits on the 142 calibration patients only (imvigor210_calibration_labels.csv; the other labelled
patients are held out for blind validation and never read), on the 348-sample z-score file, with the
195-sample bladder log2 TPM file as the per-gene reference that lets the model read log expression
(expression only, no labels). Writes src/tmekit/tl/models/imvigor210_cd8_phenotype.json; --check
refits and compares with the shipped file instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anndata as ad

import tmekit as tk

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "tmekit" / "tl" / "models" / "imvigor210_cd8_phenotype.json"


def fit(shared: Path) -> tk.tl.PhenotypeModel:
    folder = shared / "imvigor210"
    zscores = ad.read_h5ad(folder / "imvigor210_all348_zscore.h5ad")
    reference = ad.read_h5ad(folder / "imvigor210_bladder195_log2tpm.h5ad")
    model = tk.tl.fit_phenotype_model(
        zscores,
        folder / "imvigor210_calibration_labels.csv",
        id_key="patient_id",
        labels_id_column="patient_id",
        label_key="immune_phenotype",
        reference=reference,
        name="imvigor210_cd8_phenotype",
    )
    model.provenance.update({
        "data": "IMvigor210 (Mariathasan et al., Nature 2018, doi:10.1038/nature25501): 348-sample per-gene "
        "z-score file (dualmarker re-packaging); labels: the 142 calibration patients of "
        "imvigor210_calibration_labels.csv (pathologist CD8 immune phenotype); log reference: 195 bladder "
        "log2(TPM + 0.001) samples, re-expressed as log2(TPM + 1), expression only",
        "label_meaning": "inflamed: CD8+ cells in contact with tumour cells; excluded: CD8+ cells in stroma, "
        "not in the parenchyma; desert: paucity of CD8+ cells (pathologist IHC, Mariathasan 2018)",
        "tmekit_version": tk.__version__,
    })  # fmt: skip
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    model = fit(args.shared)
    print(json.dumps(model.provenance["cv"], indent=1))
    if args.check:
        shipped = tk.tl.load_phenotype_model()
        same = shipped.feature_names == model.feature_names and abs(shipped.coef - model.coef).max() < 1e-8
        print("shipped model reproduced" if same else "shipped model DIFFERS from a refit")
        return 0 if same else 1
    model.save(TARGET, overwrite=True)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
