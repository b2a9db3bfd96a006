"""Out-of-core scoring: a backed .h5ad of many cells scored in row chunks, against in-memory scoring.

    python benchmarks/outofcore.py --cells 1000000            # writes ~15 GB to --workdir, then scores it
    python benchmarks/outofcore.py --cells 100000 --in-memory # also scores the same file loaded in memory

The file is generated straight to disk in blocks of 50,000 cells (seeded; the generator of score.py: 20,000 genes,
about 1,500-2,500 non-zeros per cell, log-normalised float32 CSR), so generating it never holds the whole
matrix. Each measurement runs in its own subprocess (wall time, peak RSS = VmHWM, cells/s) and scores the 10
signatures of score.py with method rank and mean. Backed scores are compared with in-memory scores of the first
50,000 cells (exact equality is asserted by the test suite; here the max |difference| is printed). Not a test:
no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import N_GENES, _peak_rss_gb, make_data, make_signatures

BLOCK = 50_000


def generate(path: Path, n_cells: int) -> float:
    """Write a backed CSR .h5ad block by block; return the size of X in GB."""
    import anndata as ad
    import h5py
    import pandas as pd
    import scipy.sparse as sp

    var = pd.DataFrame(index=[f"G{g:05d}" for g in range(N_GENES)])
    first = make_data(min(BLOCK, n_cells), seed=0)
    ad.AnnData(X=first, var=var).write_h5ad(path)
    with h5py.File(path, "r+") as f:
        X = ad.io.sparse_dataset(f["X"])
        for i, start in enumerate(range(BLOCK, n_cells, BLOCK), start=1):
            X.append(sp.csr_matrix(make_data(min(BLOCK, n_cells - start), seed=i)))
        nbytes = sum(f["X"][k].size * f["X"][k].dtype.itemsize for k in ("data", "indices", "indptr"))
        obs = pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)])
        del f["obs"]
        ad.io.write_elem(f, "obs", obs)
    return nbytes / 1024**3


def worker(path: Path, method: str, mode: str, chunk_size: int | None) -> dict:
    import anndata as ad

    import tmekit as tk

    warnings.simplefilter("ignore")
    sigs = make_signatures()
    small = ad.read_h5ad(path, backed="r")[:500].to_memory()
    tk.tl.score(small, sigs, method=method)  # compile the kernels outside the clock
    start = time.perf_counter()
    adata = ad.read_h5ad(path, backed="r" if mode == "backed" else None)
    tk.tl.score(adata, sigs, method=method, chunk_size=chunk_size)
    wall = time.perf_counter() - start
    head = np.asarray(adata.obsm["tmekit_scores"].to_numpy()[:BLOCK])
    ref = ad.read_h5ad(path, backed="r")[:BLOCK].to_memory()
    tk.tl.score(ref, sigs, method=method)
    diff = float(np.abs(head - ref.obsm["tmekit_scores"].to_numpy()).max()) if method == "rank" else float("nan")
    return {"mode": mode, "method": method, "cells": adata.n_obs, "wall_s": wall, "peak_rss_gb": _peak_rss_gb(),
            "cells_per_s": adata.n_obs / wall, "max_abs_diff_first_50k_vs_in_memory": diff}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--in-memory", action="store_true", help="also score the file loaded in memory")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.path, args.worker[0], args.worker[1], args.chunk_size)))
        return 0
    import pandas as pd

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tmekit-ooc-"))
    path = workdir / f"synthetic_{args.cells}.h5ad"
    if not path.exists():
        start = time.perf_counter()
        x_gb = generate(path, args.cells)
        print(f"generated {path} ({x_gb:.2f} GB of CSR) in {time.perf_counter() - start:.0f} s", flush=True)
    rows = []
    modes = ["backed", "in_memory"] if args.in_memory else ["backed"]
    for mode in modes:
        for method in ("rank", "mean"):
            cmd = [sys.executable, __file__, "--path", str(path), "--worker", method, mode]
            if args.chunk_size:
                cmd += ["--chunk-size", str(args.chunk_size)]
            print(f"[{args.cells:,} cells] {mode} {method} ...", flush=True)
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                rows.append({"mode": mode, "method": method, "status": done.stderr.strip().splitlines()[-1][:80]})
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:,.3g}".format))
    print("\n(2 cores; peak RSS includes the process's whole footprint; file on local disk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
