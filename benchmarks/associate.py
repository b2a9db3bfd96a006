"""Time and peak memory of `tk.tl.associate` on a synthetic cohort: response (with the AUC bootstrap) and survival.

    python benchmarks/associate.py [--samples 10000] [--features 200] [--n-boot 1000] [--survival-features 200]

The cohort: ``--samples`` samples x ``--features`` continuous features (standard normal; a tenth of them with
10% NaN, a tenth rounded to one decimal so that ties occur), a binary response (40% responders) that the first five
features shift, and a survival time (exponential, 70% events) that they shift too. Rows, each in its own subprocess
(so the peak RSS is the run's own; numba's compiled kernel is cached on disk after the first run):

- ``response``: AUC, bootstrap CI (``--n-boot`` replicates) and Mann-Whitney p for every feature, BH q
  (the issue's acceptance: 10,000 x 200 with 1,000 replicates in under 10 s);
- ``response_no_ci``: the same without the bootstrap (``n_boot=0``);
- ``survival``: a lifelines Cox model (hazard ratio per SD) and a median-split log-rank test per feature, on
  ``--survival-features`` features.

Not part of the test suite: no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def cohort(n: int, n_features: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    gen = np.random.default_rng(seed)
    values = gen.normal(size=(n, n_features))
    tenth = max(1, n_features // 10)
    values[:, -tenth:][gen.random((n, tenth)) < 0.1] = np.nan
    values[:, -2 * tenth : -tenth] = np.round(values[:, -2 * tenth : -tenth], 1)
    signal = np.nan_to_num(values[:, : min(5, n_features)]).sum(axis=1) * 0.2
    ids = [f"S{k:06d}" for k in range(n)]
    features = pd.DataFrame(
        values, index=pd.Index(ids, name="sample"), columns=[f"f{k:03d}" for k in range(n_features)]
    )
    responder = gen.random(n) < 1 / (1 + np.exp(-(signal - 0.4)))
    time_to = gen.exponential(size=n) * np.exp(-signal)
    clinical = pd.DataFrame({"sample": ids, "response": responder, "months": time_to * 24,
                             "death": (gen.random(n) < 0.7).astype(int)})  # fmt: skip
    return features, clinical


def worker(kind: str, n: int, n_features: int, n_boot: int) -> dict:
    import tmekit as tk

    features, clinical = cohort(n, n_features)
    start = time.perf_counter()
    if kind == "survival":
        table = tk.tl.associate(features, clinical, duration="months", event="death", n_boot=n_boot)
    else:
        table = tk.tl.associate(features, clinical, response="response", n_boot=n_boot if kind == "response" else 0)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    ok = int((table["status"] == "ok").sum())
    return {"mode": kind, "samples": n, "features": n_features, "n_boot": n_boot if kind == "response" else 0,
            "rows": len(table), "ok": ok, "wall_s": wall, "peak_rss_gb": peak}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--survival-features", type=int, default=200)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, n, n_features, n_boot = args.worker.split(",")
        print(json.dumps(worker(kind, int(n), int(n_features), int(n_boot))))
        return 0
    import pandas as pd

    rows = []
    plan = [("response", args.features), ("response_no_ci", args.features), ("survival", args.survival_features)]
    for kind, n_features in plan:
        spec = f"{kind},{args.samples},{n_features},{args.n_boot}"
        done = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    table["s_per_feature"] = table["wall_s"] / table["features"]
    print(table.to_string(index=False, float_format="{:,.3f}".format))
    print("\n(wall time of the call alone, after making the cohort; each row its own process; both cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
