"""Time and peak memory of spatial phenotype classification on the real melanoma mIF file (296,523 cells).

    python benchmarks/classify.py [--data ../shared/data/melanoma_ici_mif/melanoma_ici_mif.h5ad]

Runs `tk.tl.classify(mode="spatial")` on all 135 images with both rule sets, and on one synthetic whole
slide of about a million cells (16.5 x 16.5 mm, 60 irregular excluded nests, 30% / 10% of tumour / immune cells
PD-L1 positive; the time excludes making it) with `cd8_density` alone and with every cell framework
(cd8_density, keren2018, immunoscore within the slide's own reference, til_pdl1, patterns4, intratumoral_stromal),
and with `til_pdl1_ic` alone (the SP142 IC score: PD-L1+ immune cell area from estimated cell areas; issue 29 asks
for it within 2x of `cd8_density`),
each in its own subprocess (so peak RSS is the run's own, including reading the file), and prints one table.
The slide's reference row is a 7-nearest-neighbour query of the same points (scikit-learn, as squidpy's kNN
graph builder runs it, both cores): the cost of the lightest thing one can do with a million positions.
Not part of the test suite: no timing is asserted anywhere. Units: the file's coordinates are undocumented image
units of ~333 x 248 per image; 2 um per unit is assumed (a Vectra 20x field is 669 x 500 um).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "melanoma_ici_mif" / "melanoma_ici_mif.h5ad"
LABELS = {
    "key": "cell_type",
    "tumor": ["SOX10+"],
    "immune": [
        "CD8+PD1-PDL1-",
        "CD8+PD1-PDL1+",
        "CD8+PD1+PDL1+",
        "CD8+PD1+PDL1-",
        "CD8-PD1+PDL1+",
        "CD8-PD1+PDL1-",
    ],
    "cd8": ["CD8+PD1-PDL1-", "CD8+PD1-PDL1+", "CD8+PD1+PDL1+", "CD8+PD1+PDL1-"],
}


def _peak_rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


SLIDE_RULES = {
    "slide": "cd8_density",
    "slide_all": "cd8_density,keren2018,immunoscore,til_pdl1,patterns4,intratumoral_stromal",
    "slide_ic": "til_pdl1_ic",
}


def slide_worker(case: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import tmekit as tk

    adata = tk.datasets.synthetic_tissue("excluded", size_um=16_500, n_nests=60, nest_shape="irregular", rng=0,
                                         pdl1=(0.3, 0.1))  # fmt: skip
    if case == "knn7":
        from sklearn.neighbors import NearestNeighbors

        start = time.perf_counter()
        NearestNeighbors(n_neighbors=7, n_jobs=-1).fit(adata.obsm["spatial"]).kneighbors()
        return {"rules": "7-NN query (same slide)", "cells": adata.n_obs, "images": 1,
                "wall_s": time.perf_counter() - start, "peak_rss_gb": _peak_rss_gb()}  # fmt: skip
    rules = SLIDE_RULES[case]
    start = time.perf_counter()
    tk.tl.classify(adata, rules=rules, library_key=None, microns_per_unit=1.0, n_boot=200, cohort_relative=True,
                   cell_types={**tk.datasets.synthetic_labels(), "pdl1": "pdl1", "t": ["CD8T", "CD4T"]})  # fmt: skip
    table = tk.get.phenotypes(adata)
    return {
        "rules": f"{rules} (synthetic slide)", "cells": adata.n_obs, "images": len(table),
        "wall_s": time.perf_counter() - start, "peak_rss_gb": _peak_rss_gb(),
        **{f"n_{k}": v for k, v in table["phenotype"].astype(str).value_counts().items()},
        "median_confidence": float(table["confidence"].median()),
    }  # fmt: skip


def worker(data: Path, rules: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import tmekit as tk

    if rules in {*SLIDE_RULES, "knn7"}:
        return slide_worker(rules)
    start = time.perf_counter()
    adata = tk.io.read_h5ad(data)
    adata.obsm["spatial"] = adata.obs[["x", "y"]].to_numpy()
    tk.tl.classify(adata, rules=rules, library_key="image_id", microns_per_unit=2.0, n_boot=200, cell_types=LABELS)
    table = tk.get.phenotypes(adata)
    wall = time.perf_counter() - start
    counts = table["phenotype"].astype(str).value_counts().to_dict()
    return {
        "rules": rules, "cells": adata.n_obs, "images": len(table), "wall_s": wall, "peak_rss_gb": _peak_rss_gb(),
        **{f"n_{k}": v for k, v in counts.items()}, "median_confidence": float(table["confidence"].median()),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data, args.worker)))
        return 0
    import pandas as pd

    rows = []
    for rules in ("cd8_density", "keren2018", "slide", "slide_ic", "slide_all", "knn7"):
        cmd = [sys.executable, __file__, "--data", str(args.data), "--worker", rules]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows).fillna(0)
    print(table.to_string(index=False, float_format="{:,.2f}".format))
    print("\n(time includes reading the file; bootstrap n_boot=200 per image; 2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
