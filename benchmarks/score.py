"""Benchmark signature scoring: tmekit rank/mean vs scanpy score_genes, pyucell and decoupler ulm/aucell.

    python benchmarks/score.py                      # 50k + 200k in memory, 1M backed: one table, one run
    python benchmarks/score.py --cells 20000 --backed-cells 0 --tools tmekit_rank,pyucell
    python benchmarks/score.py --cells 50000 --backed-cells 0 --variants continuous,unsorted   # issue 20's cases

Data: seeded synthetic log-normalised CSR, 20,000 genes, 1,500-2,500 non-zeros per cell (genes drawn
with skewed popularity, counts from a negative binomial, then normalize_total(1e4) + log1p), and 10
signatures of 6-200 genes. Variants of the first in-memory size (``--variants``): "continuous" adds uniform noise
below 1e-3 to every non-zero (no ties: SCTransform residuals, imputed data, intensities), run by the rank family;
"unsorted" stores each row's genes in reverse order (what ``diags @ X`` and many converters produce), run by the
mean family. Every tool runs in its own subprocess on the same .h5ad, so wall time and
peak RSS (VmHWM) are the tool's own. In-memory rows: the file is loaded before the clock starts and
peak RSS includes the loaded matrix ("RSS / X" divides it by the size of X). Backed rows (``--backed-cells``,
default 1,000,000): the file is generated block by block into --workdir (~13 GB, kept for re-runs),
opened with ``backed="r"``, and every tool gets that object, each the way its docs say to handle large
data (pyucell its cell chunks in one job, since joblib cannot pickle a backed object; decoupler
``bsize=10,000``; scanpy as is); the clock starts after opening and includes reading X. "tmekit in
memory" rows on the same 1M file give the backed / in-memory throughput ratio. A tool that fails or
exceeds --timeout is reported as such. Not part of the test
suite: no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
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
TOOLS = ("tmekit_rank", "tmekit_mean", "scanpy", "pyucell", "decoupler_ulm", "decoupler_aucell")
#: Which tmekit method each peer is compared with (the one computing the same kind of score).
FAMILY = {"pyucell": "tmekit_rank", "decoupler_ulm": "tmekit_rank", "decoupler_aucell": "tmekit_rank",
          "scanpy": "tmekit_mean"}  # fmt: skip
BLOCK = 50_000  # rows per generated block of the backed file


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


VARIANT_TOOLS = {"continuous": ("tmekit_rank", "pyucell"), "unsorted": ("tmekit_mean", "scanpy")}


def make_variant(X: sp.csr_matrix, variant: str) -> sp.csr_matrix:
    """The same matrix with continuous values (no ties) or with every row's genes stored in reverse order."""
    Y = X.copy()
    if variant == "continuous":
        Y.data = Y.data + np.random.default_rng(3).random(Y.data.size, dtype=np.float32) * np.float32(1e-3)
        return Y
    lengths = np.diff(Y.indptr)
    row_end = np.repeat(Y.indptr[1:], lengths)
    order = row_end - 1 - (np.arange(Y.nnz) - np.repeat(Y.indptr[:-1], lengths))  # each row backwards
    Y.indices, Y.data = Y.indices[order], Y.data[order]
    Y.has_sorted_indices = False
    return Y


def generate(path: Path, n_cells: int) -> float:
    """Write a backed CSR .h5ad of ``make_data`` blocks (never holding the whole matrix); return X's size in GB."""
    import anndata as ad
    import h5py
    import pandas as pd

    var = pd.DataFrame(index=[f"G{g:05d}" for g in range(N_GENES)])
    partial = path.with_suffix(".partial.h5ad")
    ad.AnnData(X=make_data(min(BLOCK, n_cells), seed=0), var=var).write_h5ad(partial)
    with h5py.File(partial, "r+") as f:
        X = ad.io.sparse_dataset(f["X"])
        for i, start in enumerate(range(BLOCK, n_cells, BLOCK), start=1):
            X.append(make_data(min(BLOCK, n_cells - start), seed=i))
        del f["obs"]
        ad.io.write_elem(f, "obs", pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)]))
    partial.rename(path)  # a killed run never leaves a truncated file under the final name
    return _x_gb(path)


def _x_gb(path: Path) -> float:
    import h5py

    with h5py.File(path, "r") as f:
        return sum(f["X"][k].size * f["X"][k].dtype.itemsize for k in ("data", "indices", "indptr")) / 1024**3


def make_signatures(*, seed: int = 1) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    return {f"sig{n}": [f"G{g:05d}" for g in rng.choice(N_GENES, size=n, replace=False)] for n in SIG_SIZES}


def _peak_rss_gb() -> float:
    # VmHWM is this process's own high-water mark; ru_maxrss would carry the parent's peak across exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def worker(tool: str, data: Path, sigs_path: Path, mode: str) -> dict[str, float]:
    """Run one tool on the prepared file in this process; return wall time and peak RSS."""
    import anndata as ad

    warnings.simplefilter("ignore")
    sigs = json.loads(sigs_path.read_text())
    if tool.startswith("tmekit"):
        import tmekit as tk

        method = tool.split("_")[1]
        small = ad.read_h5ad(data, backed="r")[:200].to_memory()
        tk.tl.score(small, sigs, method=method)  # compile the kernels outside the clock
    backed = mode == "backed"
    adata = ad.read_h5ad(data, backed="r" if backed else None)  # backed: obs/var only; X is read on the clock
    start = time.perf_counter()
    if tool.startswith("tmekit"):
        tk.tl.score(adata, sigs, method=method)
    elif tool == "pyucell":
        import pyucell

        # joblib cannot send a backed (h5py) object to worker processes: one job is how pyucell runs backed.
        pyucell.compute_ucell_scores(adata, signatures=sigs, max_rank=1500, n_jobs=1 if backed else -1)
    elif tool == "scanpy":
        import scanpy as sc

        for name, genes in sigs.items():
            sc.tl.score_genes(adata, genes, score_name=name, random_state=0, use_raw=False)
    elif tool.startswith("decoupler"):
        import decoupler as dc
        import pandas as pd

        net = pd.DataFrame(
            [(s, g, 1.0) for s, genes in sigs.items() for g in genes], columns=["source", "target", "weight"]
        )
        run = dc.mt.ulm if tool == "decoupler_ulm" else dc.mt.aucell
        run(adata, net, tmin=5, **({"bsize": 10_000} if backed else {}))
    else:
        msg = f"unknown tool {tool}"
        raise ValueError(msg)
    return {"wall_s": time.perf_counter() - start, "peak_rss_gb": _peak_rss_gb()}


def _run(tool: str, path: Path, sigs_path: Path, mode: str, timeout: float) -> tuple[dict | None, str]:
    cmd = [sys.executable, __file__, "--worker", tool, "--mode", mode, "--data", str(path), "--sigs", str(sigs_path)]
    # Own process group: on timeout the tool's worker processes (joblib, loky) die too; otherwise they keep
    # the pipes open and the timeout never returns.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, f"timeout > {timeout:.0f} s"
    if proc.returncode == 0:
        return json.loads(stdout.strip().splitlines()[-1]), "ok"
    last = (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    if proc.returncode < 0:
        last = f"killed by signal {-proc.returncode} (out of memory?)"
    return None, f"failed: {last[:70]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", default="50000,200000", help="in-memory sizes (comma-separated)")
    parser.add_argument("--backed-cells", type=int, default=1_000_000, help="size of the backed file (0: skip)")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--variants", default="continuous,unsorted", help="of the first size (empty: none)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per tool and size")
    parser.add_argument("--workdir", type=Path, default=None, help="where the data files go (default: a temp dir)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="memory", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sigs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.sigs, args.mode)))
        return 0
    import anndata as ad
    import pandas as pd

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tmekit-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sigs_path = workdir / "signatures.json"
    sigs_path.write_text(json.dumps(make_signatures()))
    tools = args.tools.split(",")
    runs: list[tuple[int, str, Path, list[str]]] = []
    for n_cells in (int(c) for c in args.cells.split(",") if c):
        path = workdir / f"synthetic_{n_cells}.h5ad"
        if not path.exists():
            X = make_data(n_cells)
            ad.AnnData(X=X, var=pd.DataFrame(index=[f"G{g:05d}" for g in range(N_GENES)])).write_h5ad(path)
            del X
        runs.append((n_cells, "in memory", path, tools))
    first = next((int(c) for c in args.cells.split(",") if c), 0)
    for variant in (v for v in args.variants.split(",") if v and first):
        path = workdir / f"synthetic_{first}_{variant}.h5ad"
        if not path.exists():
            X = make_variant(make_data(first), variant)
            ad.AnnData(X=X, var=pd.DataFrame(index=[f"G{g:05d}" for g in range(N_GENES)])).write_h5ad(path)
            del X
        runs.append((first, f"in memory, {variant}", path, [t for t in VARIANT_TOOLS[variant] if t in tools]))
    if args.backed_cells:
        path = workdir / f"synthetic_{args.backed_cells}_backed.h5ad"
        if not path.exists():
            print(f"generating {path} ...", file=sys.stderr, flush=True)
            generate(path, args.backed_cells)
        runs.append((args.backed_cells, "backed", path, tools))
        runs.append((args.backed_cells, "in memory", path, [t for t in tools if t.startswith("tmekit")]))
    rows = []
    for n_cells, mode, path, run_tools in runs:
        x_gb = _x_gb(path)
        for tool in run_tools:
            print(f"[{n_cells:,} cells, {mode}] {tool} ...", file=sys.stderr, flush=True)
            result, status = _run(tool, path, sigs_path, "backed" if mode == "backed" else "memory", args.timeout)
            rows.append({"cells": n_cells, "input": mode, "tool": tool, "status": status, "X_gb": x_gb,
                         **(result or {})})  # fmt: skip
    table = pd.DataFrame(rows)
    for column in ("wall_s", "peak_rss_gb"):
        if column not in table:
            table[column] = np.nan
    table["cells/s"] = table["cells"] / table["wall_s"]
    table["RSS / X"] = table["peak_rss_gb"] / table["X_gb"]
    ref = table.set_index(["cells", "input", "tool"])["wall_s"]
    table["x slower than tmekit"] = [
        r.wall_s / ref.get((r.cells, r.input, FAMILY.get(r.tool, r.tool)), np.nan) for r in table.itertuples()
    ]
    table["vs"] = table["tool"].map(lambda t: FAMILY.get(t, "itself"))
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        print(table.to_string(index=False, float_format="{:,.2f}".format))
    if args.backed_cells:
        n = args.backed_cells
        for tool in (t for t in tools if t.startswith("tmekit")):
            backed, memory = ref.get((n, "backed", tool), np.nan), ref.get((n, "in memory", tool), np.nan)
            print(f"{tool}: backed / in-memory wall time on the same {n:,}-cell file = {backed / memory:.2f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    table.to_csv(out / f"score_{time.strftime('%Y%m%d-%H%M%S')}.csv", index=False)
    print(f"\nmachine: {os.cpu_count()} cores; numba threads default; results also in {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
