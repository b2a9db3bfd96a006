"""Time and peak memory of `tk.tl.associate` on a synthetic cohort: response (with the AUC bootstrap) and survival.

    python benchmarks/associate.py [--samples 10000] [--features 200] [--n-boot 1000] [--survival-features 200]
                                   [--vs-lifelines 0]

The cohort: ``--samples`` samples x ``--features`` continuous features (standard normal; a tenth of them with
10% NaN, a tenth rounded to one decimal so that ties occur), a binary response (40% responders) that the first five
features shift, and a survival time (exponential, 70% events) that they shift too. Rows, each in its own subprocess
(so the peak RSS is the run's own; numba's compiled kernel is cached on disk after the first run):

- ``response``: AUC, bootstrap CI (``--n-boot`` replicates) and Mann-Whitney p for every feature, BH q
  (the issue's acceptance: 10,000 x 200 with 1,000 replicates in under 10 s);
- ``response_no_ci``: the same without the bootstrap (``n_boot=0``);
- ``survival``: a Cox model (hazard ratio per SD) and a median-split log-rank test per feature, on
  ``--survival-features`` features, all features at once (lifelines' Newton-Raphson and ``logrank_test``,
  vectorised);
- ``survival_tied``: the same with the times rounded to 0.1 month, so that many deaths share a time (Efron ties).

``--vs-lifelines K``: after the timed call, the survival rows fit lifelines' ``CoxPHFitter`` and ``logrank_test``
on the first K features tested, one at a time (~0.5 s each at 10,000 samples, not timed), and report the largest
relative difference of the hazard ratio, CI and p (``cox_rel_diff``) and of the log-rank p (``logrank_rel_diff``).

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


def vs_lifelines(table, features, clinical, k: int) -> tuple[float, float]:
    """Largest relative differences from lifelines of the Cox numbers and of the log-rank p, first ``k`` features."""
    import numpy as np
    import pandas as pd
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    data = features.join(clinical.set_index("sample"))
    table = pd.DataFrame(table, copy=True)
    cox_diff, logrank_diff = 0.0, 0.0
    for name in table.loc[(table["test"] == "cox") & (table["status"] == "ok"), "feature"][:k]:
        part = data[[name, "months", "death"]].dropna()
        z = (part[name] - part[name].mean()) / part[name].std(ddof=1)
        fit = CoxPHFitter().fit(pd.DataFrame({"z": z, "T": part["months"], "E": part["death"]}), "T", "E")
        ref = fit.summary.loc["z", ["exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%", "p"]].to_numpy()
        row = table[(table["feature"] == name) & (table["test"] == "cox")]
        got = row[["effect", "ci_low", "ci_high", "p"]].to_numpy(dtype=float)[0]
        cox_diff = max(cox_diff, float(np.max(np.abs(got / ref.astype(float) - 1))))
        high = part[name] > part[name].median()
        a, b = part[high], part[~high]
        p = logrank_test(a["months"], b["months"], a["death"], b["death"]).p_value
        got = table.loc[(table["feature"] == name) & (table["test"] == "logrank_median"), "p"].iloc[0]
        logrank_diff = max(logrank_diff, abs(got / p - 1))
    return cox_diff, logrank_diff


def worker(kind: str, n: int, n_features: int, n_boot: int, k: int = 0) -> dict:
    import numpy as np

    import tmekit as tk

    features, clinical = cohort(n, n_features)
    if kind == "survival_tied":
        clinical["months"] = clinical["months"].round(1)
    start = time.perf_counter()
    if kind.startswith("survival"):
        table = tk.tl.associate(features, clinical, duration="months", event="death", n_boot=n_boot)
    else:
        table = tk.tl.associate(features, clinical, response="response", n_boot=n_boot if kind == "response" else 0)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    ok = int((table["status"] == "ok").sum())
    cox_diff, logrank_diff = np.nan, np.nan
    if kind.startswith("survival") and k:
        cox_diff, logrank_diff = vs_lifelines(table, features, clinical, k)
    return {"mode": kind, "samples": n, "features": n_features, "n_boot": n_boot if kind == "response" else 0,
            "rows": len(table), "ok": ok, "wall_s": wall, "peak_rss_gb": peak, "distinct_times":
            int(clinical["months"].nunique()), "cox_rel_diff": cox_diff, "logrank_rel_diff": logrank_diff}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--survival-features", type=int, default=200)
    parser.add_argument("--vs-lifelines", type=int, default=0, help="compare the first K features with lifelines")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, n, n_features, n_boot, k = args.worker.split(",")
        print(json.dumps(worker(kind, int(n), int(n_features), int(n_boot), int(k))))
        return 0
    import pandas as pd

    rows = []
    plan = [("response", args.features), ("response_no_ci", args.features), ("survival", args.survival_features),
            ("survival_tied", args.survival_features)]  # fmt: skip
    for kind, n_features in plan:
        spec = f"{kind},{args.samples},{n_features},{args.n_boot},{args.vs_lifelines}"
        done = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    table["s_per_feature"] = table["wall_s"] / table["features"]
    diffs = dict.fromkeys(("cox_rel_diff", "logrank_rel_diff"), "{:.1e}".format)
    print(table.to_string(index=False, float_format="{:,.3f}".format, formatters=diffs))
    print("\n(wall time of the call alone, after making the cohort; each row its own process; both cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
