"""Does a spatial call's confidence mean what it says? And does keren2018 reproduce Keren's classes?

    python benchmarks/calibration.py [--fields 800] [--shared ../shared/data]

1. Reliability of ``confidence`` on ``tk.datasets.calibration_sweep``: fields whose true CD8 densities straddle
   the ``cd8_density`` thresholds (core 30-330 /mm^2, margin 60-660 /mm^2, log-uniform) and are measured with a
   log-normal error. Each field's truth is the rule applied to its *true* densities. A table per confidence
   bin (n, mean confidence, share right), the expected calibration error (ECE, 10 bins) and the largest
   confidence among fields measured within 10% of a threshold. Rows for a measurement error of 0.25 (what
   ``classify`` assumes), and 0.10 / 0.40 (the assumption wrong by a factor 2.5 / 1.6 either way).
2. ``rules="keren2018"`` on Keren et al. 2018's own 33 patients (``keren_tnbc_full33.h5ad``) under each
   contact definition, against the paper's counts (41 patients: 20 mixed, 15 compartmentalized, 6 cold; the
   33 here have none cold).

Not part of the test suite: nothing here is asserted (tests/tl/test_confidence.py asserts a smaller sweep).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import tmekit as tk

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def reliability(n_fields: int, truth_cv: float, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    adata = tk.datasets.calibration_sweep(n_fields, measurement_cv=truth_cv, rng=seed)
    start = time.perf_counter()
    tk.tl.classify(adata, library_key="sample_id", cell_types=tk.datasets.synthetic_labels())
    wall = time.perf_counter() - start
    table = tk.get.phenotypes(adata)
    truth = adata.uns["calibration_sweep"].loc[table.index, "truth"]
    right = (table["phenotype"].astype(str) == truth).to_numpy()
    conf = table["confidence"].to_numpy()
    bins = np.clip((conf * 10).astype(int), 0, 9)
    rows = []
    for b in range(10):
        m = bins == b
        if m.any():
            rows.append({"confidence": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "n": int(m.sum()),
                         "mean_confidence": conf[m].mean(), "share_right": right[m].mean()})  # fmt: skip
    bins_table = pd.DataFrame(rows)
    ece = float((bins_table["n"] / len(conf) * (bins_table["mean_confidence"] - bins_table["share_right"]).abs()).sum())
    core, margin = table["density_cd8_core"], table["density_cd8_margin"]
    near = ((np.abs(core / 100 - 1) < 0.1) | ((core <= 100) & (np.abs(margin / 200 - 1) < 0.1))).to_numpy()
    summary = {"measurement_cv (truth)": truth_cv, "fields": len(conf), "accuracy": right.mean(), "ECE": ece,
               "fields near a threshold": int(near.sum()), "max confidence near": conf[near].max(),
               "classify_s": wall}  # fmt: skip
    return bins_table, summary


def keren(shared: Path) -> pd.DataFrame:
    import anndata as ad

    path = shared / "keren_tnbc_mibi" / "keren_tnbc_full33.h5ad"
    if not path.exists():
        print(f"\n(skipped Keren: {path} not found)")
        return pd.DataFrame()
    rows = []
    for contacts, distance in (("touching", None), ("touching", 15.0), ("radius", None)):
        adata = ad.read_h5ad(path)
        start = time.perf_counter()
        tk.tl.classify(
            adata,
            rules="keren2018",
            library_key="patient_id",
            microns_per_unit=800 / 2048,
            contacts=contacts,
            contact_distance=distance,
            cell_types=tk.datasets.keren2018_labels(),
        )
        table = tk.get.phenotypes(adata)
        counts = table["phenotype"].astype(str).value_counts()
        rows.append({"contacts": contacts, "contact_distance_um": distance or ("12 (default)" if contacts == "touching"
                     else "20 (default)"), "excluded (compartmentalized)": int(counts.get("excluded", 0)),
                     "inflamed (mixed)": int(counts.get("inflamed", 0)), "desert (cold)": int(counts.get("desert", 0)),
                     "median_confidence": table["confidence"].median(),
                     "wall_s": time.perf_counter() - start})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fields", type=int, default=800)
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    fmt = "{:,.3f}".format
    summaries = []
    for k, truth_cv in enumerate((0.25, 0.10, 0.40)):  # the first as classify assumes
        bins_table, summary = reliability(args.fields if k == 0 else args.fields // 2, truth_cv)
        summaries.append(summary)
        if k == 0:
            print(f"Reliability, {summary['fields']} fields, measurement error 0.25 (as classify assumes)\n")
            print(bins_table.to_string(index=False, float_format=fmt))
    print("\nCalibration summary (classify assumes measurement_cv=0.25)\n")
    print(pd.DataFrame(summaries).to_string(index=False, float_format=fmt))
    table = keren(args.shared)
    if len(table):
        print("\nkeren2018 on Keren 2018's 33 patients (paper: about 15 of 33 compartmentalized)\n")
        print(table.to_string(index=False, float_format=fmt))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
