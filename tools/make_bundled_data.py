"""Rebuild the small real datasets shipped in src/tmekit/datasets/data from ../shared/data (maintainers only).

    .venv/bin/python tools/make_bundled_data.py [--shared ../shared/data]

- keren2018_mibi_4patients.h5ad: all cells of Keren 2018 MIBI patients 1-4 (the first four patient ids,
  chosen by id only), obs = patient_id, cell_type, x, y (pixels; 800 um = 2048 px); no expression matrix.
  No per-patient class label is included.
- imvigor210_bulk_subset.h5ad: the 348 IMvigor210 tumours (per-gene z-scores as shipped by dualmarker)
  restricted to the genes of the expression phenotype model, the CD8 T-effector and pan-F-TBRS sets and
  the five headline modules; obs = patient_id and tissue only (no labels, no outcomes).
- imvigor210_calibration_clinical.csv: the calibration half only (142 patients the team shares: the immune
  phenotype, best confirmed response, binary response, overall survival); the other half stays held out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

import tmekit as tk
from tmekit.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "tmekit" / "datasets" / "data"
KEREN_PATIENTS = ["1", "2", "3", "4"]


def keren(shared: Path) -> ad.AnnData:
    full = ad.read_h5ad(shared / "keren_tnbc_mibi" / "keren_tnbc_full33.h5ad")
    keep = full.obs["patient_id"].astype(str).isin(KEREN_PATIENTS).to_numpy()
    obs = full.obs.loc[keep, ["patient_id", "cell_type", "x", "y"]].copy()
    obs["patient_id"] = pd.Categorical(obs["patient_id"].astype(str), categories=KEREN_PATIENTS)
    obs["cell_type"] = obs["cell_type"].astype(str).astype("category")
    obs[["x", "y"]] = obs[["x", "y"]].astype(np.float32)
    out = ad.AnnData(obs=obs)
    out.obsm["spatial"] = obs[["x", "y"]].to_numpy()
    out.uns["dataset"] = {
        "name": "Keren 2018 MIBI-TOF TNBC, patients 1-4 (all cells, positions and cell types)",
        "citation": "Keren L, et al. A Structured Tumor-Immune Microenvironment in Triple Negative Breast Cancer "
        "Revealed by Multiplexed Ion Beam Imaging. Cell 174(6):1373-1387 (2018). doi:10.1016/j.cell.2018.08.039",
        "source": "shared/data/keren_tnbc_mibi/keren_tnbc_full33.h5ad (funkycells TNBC.rda, from the Angelo lab "
        "public MIBI release); subset by tools/make_bundled_data.py",
        "spatial_units": "pixels; one 800 um field = 2048 px (microns_per_unit = 800 / 2048)",
    }
    return out


def imvigor(shared: Path) -> ad.AnnData:
    z = ad.read_h5ad(shared / "imvigor210" / "imvigor210_all348_zscore.h5ad")
    genes = set(tk.tl.load_phenotype_model().genes)
    for name in ["cd8_teff_mariathasan2018", "pan_ftbrs_mariathasan2018", *(s.name for s in tk.signatures.headline())]:
        genes |= set(tk.signatures.get(name).genes)
    keep = [g for g in z.var_names if g in genes]
    out = ad.AnnData(
        X=np.asarray(z[:, keep].X, dtype=np.float32),
        obs=z.obs[["patient_id", "tissue"]].astype(str).copy(),
        var=pd.DataFrame(index=pd.Index(keep)),
    )
    out.uns["dataset"] = {
        "name": "IMvigor210 bulk RNA-seq, 348 tumours, per-gene z-scores, signature genes only",
        "citation": "Mariathasan S, et al. TGF-beta attenuates tumour response to PD-L1 blockade by contributing "
        "to exclusion of T cells. Nature 554:544-548 (2018). doi:10.1038/nature25501",
        "source": "shared/data/imvigor210/imvigor210_all348_zscore.h5ad (maxiaopeng/dualmarker, MIT; original "
        "IMvigor210CoreBiologies data CC-BY); subset by tools/make_bundled_data.py",
        "X": "per-gene z-scores across the 348 tumours (not counts)",
    }
    return out


def imvigor_clinical(shared: Path) -> pd.DataFrame:
    """The shared calibration half: clinical outcomes and the pathologists' phenotype, one row per patient."""
    folder = shared / "imvigor210"
    clinical = pd.read_csv(folder / "imvigor210_calibration_clinical.csv")
    labels = pd.read_csv(folder / "imvigor210_calibration_labels.csv")
    return labels.merge(clinical, on="patient_id", how="outer", validate="one_to_one").sort_values("patient_id")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    for name, adata in (("keren2018_mibi_4patients.h5ad", keren(args.shared)),
                        ("imvigor210_bulk_subset.h5ad", imvigor(args.shared))):  # fmt: skip
        path = OUT / name
        atomic_write(path, lambda tmp, a=adata: a.write_h5ad(tmp, compression="gzip"), overwrite=True)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): {adata.n_obs} x {adata.n_vars}")
    clinical = imvigor_clinical(args.shared)
    path = OUT / "imvigor210_calibration_clinical.csv"
    atomic_write(path, lambda tmp: clinical.to_csv(tmp, index=False), overwrite=True)
    print(f"wrote {path}: {len(clinical)} patients")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
