"""Plots of association with outcome draw the numbers `tk.tl.associate` computed, checked point by point."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test, multivariate_logrank_test
from matplotlib.collections import PathCollection
from scipy.stats import binomtest

import tmekit as tk


@pytest.fixture(scope="module")
def cohort():
    """80 patients: ``x`` higher in responders, ``z`` shortening survival, a three-level phenotype, and one feature
    too sparse to test (indeterminate)."""
    gen = np.random.default_rng(3)
    n = 80
    responder = gen.random(n) < 0.4
    z = gen.normal(size=n)
    ids = pd.Index([f"P{k:02d}" for k in range(n)], name="patient")
    features = pd.DataFrame({"x": gen.normal(size=n) + 1.2 * responder, "z": z, "noise": gen.normal(size=n),
                             "sparse": np.where(np.arange(n) < 70, np.nan, 1.0 * np.arange(n)),
                             "phenotype": gen.choice(["inflamed", "excluded", "desert"], n)}, index=ids)  # fmt: skip
    months = gen.exponential(20.0, n) * np.exp(-0.8 * z)
    clinical = pd.DataFrame({"patient": ids, "response": np.where(responder, "PR", "PD"),
                             "months": np.minimum(months, 30.0), "death": (months <= 30.0).astype(int)})  # fmt: skip
    table = tk.tl.associate(features, clinical, id_key="patient", response="response", positive="PR",
                            duration="months", event="death", n_boot=100)  # fmt: skip
    return features, clinical, table


def _points(ax: plt.Axes) -> tuple[np.ndarray, list[str]]:
    dots = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    offsets = np.vstack([c.get_offsets() for c in dots])
    return offsets, [t.get_text() for t in ax.get_yticklabels()]


def test_forest_draws_each_determinate_effect_sorted_with_q_marked(cohort):
    _, _, table = cohort
    fig = tk.pl.associations(table, test="auc")
    ax = fig.axes[0]
    rows = table[(table["test"] == "auc") & (table["status"] == "ok")].sort_values("effect")
    offsets, names = _points(ax)
    assert names == list(rows["feature"])  # sorted by effect; the indeterminate `sparse` is not drawn
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(rows["effect"]))
    assert "1 indeterminate" in ax.get_title()
    filled, hollow = ax.collections[-1].get_offsets(), ax.collections[-2].get_offsets()
    strong = rows[rows["q"] < 0.05]
    np.testing.assert_allclose(np.sort(filled[:, 0]), np.sort(strong["effect"]))  # `x` (AUC ~0.8) is filled
    assert "x" in set(strong["feature"]) and len(hollow) == len(rows) - len(strong)
    assert ax.get_xscale() == "linear" and 0.5 in [line.get_xdata()[0] for line in ax.lines]
    plt.close(fig)


def test_forest_q_cut_is_strict_and_hazard_ratios_are_on_a_log_axis(cohort):
    _, _, table = cohort
    cox = table[(table["test"] == "cox") & (table["status"] == "ok")]
    q_of_z = float(cox.loc[cox["feature"] == "z", "q"].iloc[0])
    for cut, filled in ((q_of_z, 0), (np.nextafter(q_of_z, 1), 1), (np.nextafter(q_of_z, 0), 0)):
        fig = tk.pl.associations(table, test="cox", q_cut=cut)
        ax = fig.axes[0]
        drawn = ax.collections[-1].get_offsets()
        assert sum(np.isclose(drawn[:, 0], cox.loc[cox["feature"] == "z", "effect"].iloc[0])) == filled, cut
        assert ax.get_xscale() == "log"
        plt.close(fig)


def test_forest_needs_the_test_named_when_the_table_has_several(cohort):
    _, _, table = cohort
    with pytest.raises(ValueError, match="pick one with `test=`"):
        tk.pl.associations(table)
    fig = tk.pl.associations(table[table["test"] == "cox"])  # one kind of effect: no need to name it
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"not a `tk\.tl\.associate` result"):
        tk.pl.associations(pd.DataFrame({"a": [1]}))


def test_forest_keeps_the_smallest_p_when_capped(cohort):
    _, _, table = cohort
    fig = tk.pl.associations(table, test="auc", max_features=2)
    rows = table[(table["test"] == "auc") & (table["status"] == "ok")].nsmallest(2, "p")
    assert set(_points(fig.axes[0])[1]) == set(rows["feature"]) and "more not shown" in fig.axes[0].get_title()
    plt.close(fig)


def test_response_rates_are_responders_over_n_with_wilson_intervals(cohort):
    features, clinical, table = cohort
    fig = tk.pl.response_rates(table, feature="phenotype")
    ax = fig.axes[0]
    responded = clinical.set_index("patient")["response"].eq("PR")
    for bar, label in zip(ax.patches, [t.get_text() for t in ax.get_xticklabels()], strict=True):
        members = features.index[features["phenotype"] == label]
        assert bar.get_height() == pytest.approx(responded[members].mean())
    texts = {t.get_text() for t in ax.texts}
    level = sorted(features["phenotype"].unique())[0]
    members = features.index[features["phenotype"] == level]
    assert f"{int(responded[members].sum())}/{len(members)}" in texts
    bars = ax.collections[0].get_segments()[0]  # the first bar's error bar: the Wilson interval
    wilson = binomtest(int(responded[members].sum()), len(members)).proportion_ci(method="wilson")
    np.testing.assert_allclose(sorted(bars[:, 1]), [wilson.low, wilson.high])
    with pytest.raises(KeyError, match="categorical features with rates"):
        tk.pl.response_rates(table, feature="x")
    plt.close(fig)


def test_survival_splits_at_the_median_like_associate_and_reports_lifelines_p(cohort):
    features, clinical, _ = cohort
    fig = tk.pl.survival(features, clinical, feature="z", duration="months", event="death", id_key="patient")
    high = features["z"] > features["z"].median()
    t, e = clinical["months"].to_numpy(), clinical["death"].to_numpy()
    p = logrank_test(t[high], t[~high], event_observed_A=e[high], event_observed_B=e[~high]).p_value
    ax = fig.axes[0]
    assert f"log-rank p = {p:.2g}" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"high (n={int(high.sum())})", f"low (n={int((~high).sum())})"]
    at_risk = fig.axes[1].get_xticklabels()[0].get_text()  # lifelines' table under the axes: counts at time 0
    assert at_risk.startswith("At risk") and f"high (n={int(high.sum())})   {int(high.sum())}" in at_risk
    plt.close(fig)
    fig = tk.pl.survival(features, clinical, feature="phenotype", duration="months", event="death", id_key="patient")
    p = multivariate_logrank_test(t, features["phenotype"].to_numpy(), e).p_value
    assert f"log-rank p = {p:.2g}" in fig.axes[0].get_title() and len(fig.axes[0].get_legend().get_texts()) == 3
    plt.close(fig)
    with pytest.raises(KeyError, match="nope"):
        tk.pl.survival(features, clinical, feature="nope", duration="months", event="death", id_key="patient")
