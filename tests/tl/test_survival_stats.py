"""The vectorised survival statistics of `tk.tl.associate` against lifelines, fitted here one feature at a time."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test

import tmekit as tk
from tmekit.tl import _association_stats as st
from tmekit.tl import _survival_stats as sv


def _lifelines_cox(x: np.ndarray, t: np.ndarray, e: np.ndarray) -> tuple[float, float, float, float]:
    """HR per SD, 95% CI and p of lifelines' CoxPHFitter on the measured samples of ``x`` (z-scored, ddof 1)."""
    keep = np.isfinite(x)
    z = (x[keep] - x[keep].mean()) / x[keep].std(ddof=1)
    row = CoxPHFitter().fit(pd.DataFrame({"z": z, "T": t[keep], "E": e[keep]}), "T", "E").summary.loc["z"]
    return row["exp(coef)"], row["exp(coef) lower 95%"], row["exp(coef) upper 95%"], row["p"]


def _cohort(n: int, n_features: int, seed: int, *, decimals: int | None) -> tuple[np.ndarray, ...]:
    """Features (the first two shift the hazard), times (rounded to ``decimals``: ties), events (70%)."""
    gen = np.random.default_rng(seed)
    values = gen.normal(size=(n, n_features))
    months = gen.exponential(20.0, n) * np.exp(-0.5 * values[:, 0] + 0.3 * values[:, 1])
    months = months if decimals is None else np.round(months, decimals)
    return values, months, (gen.random(n) < 0.7).astype(float)


def _assert_cox_equals_lifelines(values: np.ndarray, t: np.ndarray, e: np.ndarray) -> None:
    results = sv.cox_univariate(values, t, e)
    for f, result in enumerate(results):
        assert result.reason == ""
        got = (result.effect, result.ci_low, result.ci_high, result.p)
        assert got == pytest.approx(_lifelines_cox(values[:, f], t, e), rel=1e-9), f


def test_cox_equals_lifelines_with_distinct_times():
    values, t, e = _cohort(300, 5, 0, decimals=None)
    assert len(np.unique(t)) == len(t)
    _assert_cox_equals_lifelines(values, t, e)


def test_cox_equals_lifelines_with_heavily_tied_times():
    values, t, e = _cohort(400, 5, 1, decimals=0)  # whole months: ~60 distinct times, up to ~30 deaths at one
    _, deaths = np.unique(t[e > 0], return_counts=True)
    assert len(np.unique(t)) < 100 and deaths.max() >= 10
    _assert_cox_equals_lifelines(values, t, e)
    # the ties matter here: with them broken (times jittered) the hazard ratio moves well beyond the tolerance
    jittered = t + np.random.default_rng(1).uniform(0, 1e-3, len(t))
    tied, untied = sv.cox_univariate(values[:, :1], t, e)[0].effect, _lifelines_cox(values[:, 0], jittered, e)[0]
    assert abs(tied / untied - 1) > 1e-3


def test_cox_of_a_feature_with_nans_next_to_complete_ones():
    values, t, e = _cohort(300, 4, 2, decimals=1)
    gen = np.random.default_rng(2)
    values[gen.random(300) < 0.3, 1] = np.nan
    values[gen.random(300) < 0.05, 3] = np.nan
    _assert_cox_equals_lifelines(values, t, e)


def test_a_separating_feature_is_indeterminate_with_lifelines_reason():
    gen = np.random.default_rng(3)
    n = 40
    t = np.sort(gen.exponential(10.0, n)) + np.arange(n) * 1e-3
    features = pd.DataFrame({"separating": -t, "fine": gen.normal(size=n)}, index=[f"s{k}" for k in range(n)])
    clinical = pd.DataFrame({"t": t, "e": 1}, index=features.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lifelines' warnings are caught and become the reason
        table = tk.tl.associate(features, clinical, duration="t", event="e")
    row = table[(table["feature"] == "separating") & (table["test"] == "cox")].iloc[0]
    frame = pd.DataFrame({"feature": -t, "duration": t, "event": 1})
    before = st.cox(frame, feature="feature", duration="duration", event="event")  # the lifelines path
    assert row["status"] == "indeterminate" and row["reason"].startswith("Cox model did not converge")
    assert row["reason"] == before.reason and np.isnan(row["p"]) and np.isnan(row["effect"])
    fine = table[(table["feature"] == "fine") & (table["test"] == "cox")].iloc[0]
    x = features["fine"].to_numpy()
    assert (fine["effect"], fine["p"]) == pytest.approx(_lifelines_cox(x, t, np.ones(n))[::3], rel=1e-9)


def test_logrank_equals_lifelines_with_ties_and_nans():
    values, t, e = _cohort(500, 4, 4, decimals=0)
    values[np.random.default_rng(4).random(500) < 0.2, 2] = np.nan
    measured = np.isfinite(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        high = values > np.nanmedian(values, axis=0)
    p = sv.logrank_two_groups(t, e, high, measured)
    for f in range(values.shape[1]):
        a, b = high[:, f] & measured[:, f], ~high[:, f] & measured[:, f]
        assert p[f] == pytest.approx(logrank_test(t[a], t[b], e[a], e[b]).p_value, rel=1e-8, abs=1e-300), f


def test_associate_survival_with_tied_times_and_nans_against_lifelines():
    values, t, e = _cohort(250, 3, 5, decimals=0)
    values[np.random.default_rng(5).random(250) < 0.25, 2] = np.nan
    ids = [f"p{k}" for k in range(250)]
    features = pd.DataFrame(values, index=ids, columns=["a", "b", "gappy"])
    table = tk.tl.associate(features, pd.DataFrame({"t": t, "e": e}, index=ids), duration="t", event="e")
    for f, name in enumerate(features.columns):
        x = values[:, f]
        cox = table[(table["feature"] == name) & (table["test"] == "cox")].iloc[0]
        assert tuple(cox[["effect", "ci_low", "ci_high", "p"]]) == pytest.approx(_lifelines_cox(x, t, e), rel=1e-9)
        keep = np.isfinite(x)
        high = x > np.nanmedian(x)
        a, b = high & keep, ~high & keep
        split = table[(table["feature"] == name) & (table["test"] == "logrank_median")].iloc[0]
        assert split["p"] == pytest.approx(logrank_test(t[a], t[b], e[a], e[b]).p_value, rel=1e-8)
        assert cox["n"] == keep.sum() and cox["n_events"] == e[keep].sum()
