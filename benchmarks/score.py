"""Benchmark signature scoring: tmekit rank/mean vs pyucell, scanpy score_genes and decoupler ulm.

    python benchmarks/score.py                      # 50,000 and 200,000 cells (the issue's table)
    python benchmarks/score.py --cells 20000 --tools tmekit_rank,pyucell

Data: seeded synthetic log-normalised CSR, 20,000 genes, 1,500-2,500 non-zeros per cell (genes drawn
with skewed popularity, counts from a negative binomial, then normalize_total(1e4) + log1p), and 10
signatures of 6-200 genes. Every tool runs in its own subprocess on the same .h5ad (loaded in
memory before the clock starts), so wall time and peak RSS are the tool's own. Peak RSS includes the
loaded matrix; "RSS / X" divides it by the in-memory size of X. A tool that exceeds --timeout is
reported as such. Not part of the test suite: no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

N_GENES = 20_000
SIG_SIZES = (6, 8, 12, 20, 30, 50, 80, 120, 160, 200)
TOOLS = ("tmekit_rank", "tmekit_mean", "pyucell", "scanpy", "decoupler_ulm")
FAMILY = {"pyucell": "tmekit_rank", "decoupler_ulm": "tmekit_rank", "scanpy": "tmekit_mean"}


def make_data(n_cells: int, *, seed: int = 0, block: int = 10_000) -> sp.csr_matrix:
    """Seeded synthetic log-normalised CSR with about 1,500-2,500 non-zeros per cell."""
    rng = np.random.default_rng(seed)
    popularity = rng.lognormal(0, 1.5, N_GENES)
    popularity /= popularity.sum()
    cdf = np.cumsum(popularity)
    pieces = []
    for start in range(0, n_cells, block):
        n = min(block, n_cells - start)
        target = rng.integers(1500, 2501, size=n)
        draws = (target * 1.2).astype(np.int64)  # oversample: repeated draws of popular genes collapse
        cell = np.repeat(np.arange(n, dtype=np.int64), draws)
        gene = np.minimum(np.searchsorted(cdf, rng.random(cell.size)), N_GENES - 1)
        keys = np.sort(cell * N_GENES + gene)  # sort + adjacent dedupe (numpy 2.x np.unique hashes, much slower)
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        cell, gene = keys // N_GENES, keys % N_GENES
        counts = rng.negative_binomial(2, 0.5, size=cell.size).astype(np.float64) + 1
        indptr = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=n))])  # keys are sorted by cell, gene
        totals = np.add.reduceat(counts, indptr[:-1])
        values = np.log1p(counts / np.repeat(totals, np.diff(indptr)) * 1e4).astype(np.float32)
        m = sp.csr_matrix((values, gene.astype(np.int32), indptr), shape=(n, N_GENES))
        pieces.append(m.astype(np.float32))
    return sp.vstack(pieces, format="csr")


def make_signatures(*, seed: int = 1) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    return {f"sig{n}": [f"G{g:05d}" for g in rng.choice(N_GENES, size=n, replace=False)] for n in SIG_SIZES}


def _peak_rss_gb() -> float:
    # VmHWM is this process's own high-water mark; ru_maxrss would carry the parent's peak across exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def worker(tool: str, data: Path, sigs_path: Path) -> dict[str, float]:
    """Run one tool on the prepared data in this process; return wall time and peak RSS."""
    import anndata as ad

    warnings.simplefilter("ignore")
    adata = ad.read_h5ad(data)
    sigs = json.loads(sigs_path.read_text())
    if tool.startswith("tmekit"):
        import tmekit as tk

        method = tool.split("_")[1]
        tk.tl.score(adata[:200].copy(), sigs, method=method)  # compile the kernels outside the clock
        start = time.perf_counter()
        tk.tl.score(adata, sigs, method=method)
    elif tool == "pyucell":
        import pyucell

        start = time.perf_counter()
        pyucell.compute_ucell_scores(adata, signatures=sigs, max_rank=1500, n_jobs=-1)
    elif tool == "scanpy":
        import scanpy as sc

        start = time.perf_counter()
        for name, genes in sigs.items():
            sc.tl.score_genes(adata, genes, score_name=name, random_state=0, use_raw=False)
    elif tool == "decoupler_ulm":
        import decoupler as dc
        import pandas as pd

        net = pd.DataFrame(
            [(s, g, 1.0) for s, genes in sigs.items() for g in genes], columns=["source", "target", "weight"]
        )
        start = time.perf_counter()
        dc.mt.ulm(adata, net, tmin=5)
    else:
        msg = f"unknown tool {tool}"
        raise ValueError(msg)
    return {"wall_s": time.perf_counter() - start, "peak_rss_gb": _peak_rss_gb()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", default="50000,200000")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sigs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.sigs)))
        return 0
    import anndata as ad
    import pandas as pd

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tmekit-bench-"))
    sigs_path = workdir / "signatures.json"
    sigs_path.write_text(json.dumps(make_signatures()))
    rows = []
    for n_cells in (int(c) for c in args.cells.split(",")):
        X = make_data(n_cells)
        x_gb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 1024**3
        path = workdir / f"synthetic_{n_cells}.h5ad"
        ad.AnnData(X=X, var=pd.DataFrame(index=[f"G{g:05d}" for g in range(N_GENES)])).write_h5ad(path)
        nnz = X.nnz / n_cells
        del X
        for tool in args.tools.split(","):
            cmd = [sys.executable, __file__, "--worker", tool, "--data", str(path), "--sigs", str(sigs_path)]
            print(f"[{n_cells:,} cells] {tool} ...", file=sys.stderr, flush=True)
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
                result = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
                status = "ok" if result else f"failed: {done.stderr.strip().splitlines()[-1][:60]}"
            except subprocess.TimeoutExpired:
                result, status = None, f"timeout > {args.timeout:.0f} s"
            rows.append({"cells": n_cells, "nnz/cell": round(nnz), "tool": tool, "status": status,
                         "X_gb": x_gb, **(result or {})})  # fmt: skip
        path.unlink()
    table = pd.DataFrame(rows)
    table["cells/s"] = table["cells"] / table.get("wall_s")
    table["RSS / X"] = table.get("peak_rss_gb") / table["X_gb"]
    ref = table.set_index(["cells", "tool"])["wall_s"]
    table["x slower than tmekit"] = [
        r.wall_s / ref.get((r.cells, FAMILY.get(r.tool, r.tool)), np.nan) for r in table.itertuples()
    ]
    table["vs"] = table["tool"].map(lambda t: FAMILY.get(t, "itself"))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format="{:,.2f}".format))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    table.to_csv(out / f"score_{time.strftime('%Y%m%d-%H%M%S')}.csv", index=False)
    print(f"\nmachine: {os.cpu_count()} cores; numba threads default; results also in {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
