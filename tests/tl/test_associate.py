"""`tk.tl.associate`: each number against scipy / scikit-learn / lifelines computed here; null and known effects."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy import stats
from sklearn.metrics import roc_auc_score

import tmekit as tk
from tmekit.tl._associate import COLUMNS, RATE_COLUMNS

Tables = tuple[pd.DataFrame, pd.DataFrame]


def _cohort(n: int = 120, seed: int = 0, *, auc_shift: float = 0.0, log_hr: float = 0.0) -> Tables:
    """Samples with features ``x`` (shifts response by ``auc_shift`` SDs), ``z`` (log hazard ``log_hr`` per SD),
    ``noise``, ``tied`` (few values), ``sparse`` (30% NaN), a phenotype and a two-level flag."""
    gen = np.random.default_rng(seed)
    responder = gen.random(n) < 0.45
    x = gen.normal(size=n) + auc_shift * responder
    z = gen.normal(size=n)
    ids = [f"S{k:03d}" for k in range(n)]
    features = pd.DataFrame(
        {"n_samples": 1, "x": x, "z": z, "noise": gen.normal(size=n), "tied": gen.integers(0, 4, n).astype(float),
         "sparse": np.where(gen.random(n) < 0.3, np.nan, gen.normal(size=n)),
         "phenotype": pd.Categorical(gen.choice(["inflamed", "excluded", "desert"], n),
                                     categories=["inflamed", "excluded", "desert", "indeterminate"]),
         "flag": gen.choice(["yes", "no"], n)},
        index=pd.Index(ids, name="sample"),
    )  # fmt: skip
    months = gen.exponential(scale=20.0, size=n) * np.exp(-log_hr * z)
    censor = gen.exponential(scale=40.0, size=n)
    clinical = pd.DataFrame({"sample": ids, "response": np.where(responder, "PR", "PD"),
                             "months": np.minimum(months, censor), "death": (months <= censor).astype(int),
                             "age": gen.normal(60, 10, n).round(),
                             "stage": gen.choice(["II", "III", "IV"], n)})  # fmt: skip
    return features, clinical


@pytest.fixture(scope="module")
def cohort() -> Tables:
    return _cohort(auc_shift=0.8, log_hr=0.5)


def _rows(table: pd.DataFrame, feature: str, test: str) -> pd.Series:
    rows = table[(table["feature"] == feature) & (table["test"] == test)]
    assert len(rows) == 1, (feature, test)
    return rows.iloc[0]


def test_schema_and_response_numbers_against_scipy_and_sklearn(cohort):
    features, clinical = cohort
    table = tk.tl.associate(features, clinical, response="response", positive="PR", n_boot=200)
    assert tuple(table.columns) == COLUMNS
    assert set(table["test"]) == {"auc", "chi2", "fisher"} and set(table["outcome"]) == {"response"}
    assert "n_samples" not in set(table["feature"])
    y = (clinical.set_index("sample")["response"] == "PR").reindex(features.index).to_numpy()
    for name in ("x", "noise", "tied", "sparse"):
        row = _rows(table, name, "auc")
        values = features[name].to_numpy()
        measured = np.isfinite(values)
        assert row["effect"] == pytest.approx(roc_auc_score(y[measured], values[measured]), abs=1e-12)
        by_hand = stats.mannwhitneyu(values[measured & y], values[measured & ~y], alternative="two-sided")
        assert row["p"] == pytest.approx(by_hand.pvalue, rel=1e-12)
        assert row["n"] == measured.sum() and row["n_events"] == (measured & y).sum()
        assert row["ci_low"] < row["effect"] < row["ci_high"] and row["status"] == "ok" and row["reason"] == ""
    # two levels: Fisher's exact test, the conditional MLE odds ratio of "no" over "yes" (sorted), exact CI
    flag = features["flag"].to_numpy()
    counts = np.array([[(y & (flag == v)).sum(), (~y & (flag == v)).sum()] for v in ("no", "yes")])
    row = _rows(table, "flag", "fisher")
    assert row["p"] == pytest.approx(stats.fisher_exact(counts).pvalue)
    ratio = stats.contingency.odds_ratio(counts, kind="conditional")
    ci = ratio.confidence_interval(confidence_level=0.95)
    assert (row["effect"], row["ci_low"], row["ci_high"]) == pytest.approx((ratio.statistic, ci.low, ci.high))
    # three levels: chi-square, no effect size; the rates per level by hand (the empty level too)
    levels = ["inflamed", "excluded", "desert"]
    phenotype = features["phenotype"].astype(str).to_numpy()
    counts = np.array([[(y & (phenotype == v)).sum(), (~y & (phenotype == v)).sum()] for v in levels])
    row = _rows(table, "phenotype", "chi2")
    assert row["p"] == pytest.approx(stats.chi2_contingency(counts, correction=False).pvalue)
    assert np.isnan(row["effect"]) and np.isnan(row["ci_low"])
    rates = pd.DataFrame(table.attrs["rates"], columns=list(RATE_COLUMNS))
    mine = rates[rates["feature"] == "phenotype"].set_index("level")
    assert list(mine.index) == levels  # category order; "indeterminate" has no sample
    np.testing.assert_array_equal(mine["n"], counts.sum(axis=1))
    np.testing.assert_allclose(mine["rate"], counts[:, 0] / counts.sum(axis=1))


def test_benjamini_hochberg_by_hand(cohort):
    features, clinical = cohort
    table = tk.tl.associate(features, clinical, response="response", positive="PR", n_boot=0)
    p = table["p"].to_numpy()
    m = len(p)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    expected = np.empty(m)
    expected[order] = q
    np.testing.assert_allclose(table["q"], expected, rtol=1e-12)
    assert table.loc[table["test"] == "auc", "ci_low"].isna().all()  # n_boot=0: no bootstrap CI


def test_survival_numbers_against_lifelines(cohort):
    features, clinical = cohort
    table = tk.tl.associate(features, clinical, duration="months", event="death")
    assert set(table["test"]) == {"cox", "logrank_median", "logrank"} and set(table["outcome"]) == {"survival"}
    data = features.join(clinical.set_index("sample"))
    z = (data["z"] - data["z"].mean()) / data["z"].std(ddof=1)
    fitted = CoxPHFitter().fit(pd.DataFrame({"z": z, "T": data["months"], "E": data["death"]}), "T", "E")
    row = _rows(table, "z", "cox")
    summary = fitted.summary.loc["z"]
    assert row["effect"] == pytest.approx(summary["exp(coef)"], rel=1e-6)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (summary["exp(coef) lower 95%"], summary["exp(coef) upper 95%"]), rel=1e-6
    )
    assert row["p"] == pytest.approx(summary["p"], rel=1e-6)
    assert row["n_events"] == data["death"].sum() and row["n"] == len(data)
    high = data["z"] > data["z"].median()
    by_hand = logrank_test(data["months"][high], data["months"][~high], data["death"][high], data["death"][~high])
    assert _rows(table, "z", "logrank_median")["p"] == pytest.approx(by_hand.p_value)
    by_hand = multivariate_logrank_test(data["months"], data["phenotype"].astype(str), data["death"])
    assert _rows(table, "phenotype", "logrank")["p"] == pytest.approx(by_hand.p_value)
    # q: the primary family (cox + logrank) and the median splits apart
    primary = table["test"].isin(["cox", "logrank"]).to_numpy()
    np.testing.assert_allclose(table.loc[primary, "q"], stats.false_discovery_control(table.loc[primary, "p"]))


def test_adjusted_cox_against_lifelines(cohort):
    features, clinical = cohort
    table = tk.tl.associate(features, clinical, duration="months", event="death", covariates=["age", "stage"],
                            features_to_test=["z"])  # fmt: skip
    data = features.join(clinical.set_index("sample"))
    frame = pd.DataFrame({"z": (data["z"] - data["z"].mean()) / data["z"].std(ddof=1), "age": data["age"],
                          "III": (data["stage"] == "III").astype(float), "IV": (data["stage"] == "IV").astype(float),
                          "T": data["months"], "E": data["death"]})  # fmt: skip
    fitted = CoxPHFitter().fit(frame, "T", "E").summary.loc["z"]
    row = _rows(table, "z", "cox")
    assert (row["effect"], row["p"]) == pytest.approx((fitted["exp(coef)"], fitted["p"]), rel=1e-6)
    assert table.attrs["params"]["covariates"] == ["age", "stage"]


def test_known_effects_are_recovered_within_their_ci():
    shift, log_hr = 1.0, np.log(2.0)
    features, clinical = _cohort(n=400, seed=3, auc_shift=shift, log_hr=log_hr)
    table = tk.tl.associate(features, clinical, response="response", positive=["PR"], duration="months",
                            event="death", n_boot=500)  # fmt: skip
    auc = _rows(table, "x", "auc")
    true_auc = stats.norm.cdf(shift / np.sqrt(2))  # two unit normals shifted apart
    assert auc["ci_low"] < true_auc < auc["ci_high"] and auc["p"] < 1e-6
    cox = _rows(table, "z", "cox")
    sd = features["z"].std(ddof=1)
    assert cox["ci_low"] < np.exp(log_hr * sd) < cox["ci_high"] and cox["p"] < 1e-6
    assert _rows(table, "noise", "auc")["ci_low"] < 0.5 < _rows(table, "noise", "auc")["ci_high"]


def test_null_cohorts_keep_the_false_positive_rate_near_five_percent():
    p_auc, p_cox, covered = [], [], []
    for seed in range(200):
        gen = np.random.default_rng(1000 + seed)
        n = 60
        ids = [f"S{k}" for k in range(n)]
        features = pd.DataFrame({"x": gen.normal(size=n)}, index=ids)
        clinical = pd.DataFrame({"responder": gen.random(n) < 0.4, "months": gen.exponential(10, n),
                                 "death": (gen.random(n) < 0.7).astype(int)}, index=ids)  # fmt: skip
        table = tk.tl.associate(features, clinical, response="responder", duration="months", event="death",
                                n_boot=200, rng=seed)  # fmt: skip
        auc, cox = _rows(table, "x", "auc"), _rows(table, "x", "cox")
        p_auc.append(auc["p"])
        p_cox.append(cox["p"])
        covered.append(auc["ci_low"] <= 0.5 <= auc["ci_high"])
    for p in (np.array(p_auc), np.array(p_cox)):
        assert 0.02 <= (p < 0.05).mean() <= 0.09
        assert stats.kstest(p, "uniform").pvalue > 0.01  # p uniform under the null
    assert np.mean(covered) >= 0.9


@pytest.mark.parametrize(("n_small", "status"), [(4, "indeterminate"), (5, "ok"), (6, "ok")])
def test_min_group_at_just_below_and_just_above(n_small, status):
    gen = np.random.default_rng(n_small)
    n = 30
    features = pd.DataFrame(
        {"x": gen.normal(size=n), "level": ["a", "b"] * (n // 2)}, index=[f"s{k}" for k in range(n)]
    )
    clinical = pd.DataFrame({"r": [1] * n_small + [0] * (n - n_small)}, index=features.index)
    table = tk.tl.associate(features, clinical, response="r", min_group=5, n_boot=50)
    for test in ("auc", "fisher"):
        row = _rows(table, "x" if test == "auc" else "level", test)
        assert row["status"] == status and row["n_events"] == n_small
        if status == "indeterminate":
            assert "< min_group=5" in row["reason"] and np.isnan(row["p"]) and np.isnan(row["q"])
            assert np.isnan(row["effect"]) and np.isnan(row["ci_low"])
        else:
            assert row["reason"] == "" and np.isfinite(row["p"]) and np.isfinite(row["q"])


def test_indeterminate_rows_say_why_and_are_left_out_of_bh():
    gen = np.random.default_rng(5)
    n = 40
    mostly_nan = np.r_[gen.normal(size=10), [np.nan] * 30]
    features = pd.DataFrame({"x": gen.normal(size=n), "constant": 1.0, "mostly_nan": mostly_nan,
                             "rare": ["a"] * 37 + ["b"] * 3}, index=[f"s{k}" for k in range(n)])  # fmt: skip
    clinical = pd.DataFrame({"r": gen.random(n) < 0.5, "t": gen.exponential(5, n), "e": [1] * 8 + [0] * 32},
                            index=features.index)  # fmt: skip
    table = tk.tl.associate(features, clinical, response="r", duration="t", event="e", n_boot=20)
    reasons = {(r.feature, r.test): r.reason for r in table.itertuples() if r.status == "indeterminate"}
    assert reasons["constant", "auc"] == "constant feature"
    assert reasons["mostly_nan", "auc"].startswith("75% of values missing (> max_missing=50%)")
    assert reasons["rare", "fisher"].startswith("fewer than 2 levels with >= min_group=5 samples")
    assert reasons["x", "cox"] == "8 events among 40 samples measured (< min_events=10)"
    assert table.loc[table["status"] == "indeterminate", ["p", "q"]].isna().all().all()
    ok = table[(table["status"] == "ok") & (table["outcome"] == "response")]
    assert list(ok["feature"]) == ["x"] and ok["q"].iloc[0] == ok["p"].iloc[0]  # one test in its family
    rates = pd.DataFrame(table.attrs["rates"])
    assert list(rates.loc[rates["feature"] == "rare", "n"]) == [37, 3]  # the rare level is reported


def test_unmatched_ids_are_reported_and_only_matched_ones_tested(cohort):
    features, clinical = cohort
    part = clinical.iloc[10:].copy()
    extra = pd.DataFrame({"sample": ["X1", "X2"], "response": ["PR", "PD"]})
    with pytest.warns(tk.UnmatchedIdsWarning, match=r"110 of 120 feature rows matched .*\['S000', 'S001'"):
        table = tk.tl.associate(features, pd.concat([part, extra]), response="response", positive="PR", n_boot=0)
    ids = table.attrs["ids"]
    assert ids["matched"] == 110 and ids["unmatched_features"][:2] == ["S000", "S001"]
    assert ids["unmatched_clinical"] == ["X1", "X2"]
    assert _rows(table, "x", "auc")["n"] == 110
    with pytest.raises(ValueError, match=r"No id of the feature table .* Column 'sample' holds 120 of them"):
        tk.tl.associate(features.rename_axis("other"), clinical, response="response", positive="PR")


def test_ids_from_a_csv_match_as_text(tmp_path, cohort):
    features, clinical = cohort
    numbered = features.set_axis(pd.Index([str(k) for k in range(len(features))], name="patient_id"))
    path = tmp_path / "clinical.csv"
    clinical.assign(patient_id=range(len(clinical))).drop(columns="sample").to_csv(path, index=False)
    from_csv = tk.tl.associate(numbered, path, response="response", positive="PR", n_boot=0)
    in_memory = tk.tl.associate(features, clinical, response="response", positive="PR", n_boot=0)
    pd.testing.assert_frame_equal(from_csv.drop(columns="q"), in_memory.drop(columns="q"))


def test_response_values_must_be_named_unless_binary(cohort):
    features, clinical = cohort
    with pytest.raises(ValueError, match=r"has 2 values \(\['PD', 'PR'\]\): say which count as response"):
        tk.tl.associate(features, clinical, response="response")
    with pytest.raises(ValueError, match=r"`positive` values \['CR'\] do not occur"):
        tk.tl.associate(features, clinical, response="response", positive="CR")
    best = clinical.assign(bor=np.where(clinical["response"] == "PR", "PR", "SD"))
    best.loc[:4, "bor"] = "CR"
    best.loc[5:9, "bor"] = np.nan  # not evaluable
    table = tk.tl.associate(features, best, response="bor", positive=["CR", "PR"], n_boot=0)
    assert _rows(table, "x", "auc")["n"] == len(features) - 5
    binary = clinical.assign(r=(clinical["response"] == "PR").astype(int))
    by_flag = tk.tl.associate(features, binary, response="r", n_boot=0)
    by_name = tk.tl.associate(features, clinical, response="response", positive="PR", n_boot=0)
    pd.testing.assert_frame_equal(by_flag, by_name)
    as_read = binary.assign(r=binary["r"].astype(bool).astype(object))  # True/False with a gap, as read from a CSV
    as_read.loc[0, "r"] = np.nan
    assert _rows(tk.tl.associate(features, as_read, response="r", n_boot=0), "x", "auc")["n"] == len(features) - 1


def test_one_response_class_only_is_indeterminate_not_an_error(cohort):
    features, clinical = cohort
    table = tk.tl.associate(features, clinical.assign(r=True), response="r", n_boot=50)
    assert (table["status"] == "indeterminate").all()
    assert _rows(table, "x", "auc")["reason"] == "120 responders and 0 non-responders measured (< min_group=5)"


def test_same_result_for_any_row_order(cohort):
    features, clinical = cohort
    kwargs = {"response": "response", "positive": "PR", "duration": "months", "event": "death", "n_boot": 100}
    first = tk.tl.associate(features, clinical, **kwargs)
    gen = np.random.default_rng(1)
    shuffled = tk.tl.associate(features.iloc[gen.permutation(len(features))],
                               clinical.iloc[gen.permutation(len(clinical))], **kwargs)  # fmt: skip
    pd.testing.assert_frame_equal(first, shuffled)


def test_stored_in_uns_only_after_success_and_read_back(tmp_path, cohort):
    features, clinical = cohort
    adata = ad.AnnData(obs=pd.DataFrame(index=features.index))
    with pytest.raises(KeyError, match="response="):
        tk.tl.associate(features, clinical, response="missing", adata=adata)
    assert "tmekit_association" not in adata.uns
    table = tk.tl.associate(features, clinical, response="response", positive="PR", n_boot=50, adata=adata)
    stored = adata.uns["tmekit_association"]
    assert set(stored) == {"table", "rates", "params", "ids", "data"} and stored["ids"]["matched"] == len(features)
    # the values tested, per matched id (what the plots draw): features as given, the response as 1 / 0
    data = stored["data"].loc[features.index.astype(str)]
    np.testing.assert_array_equal(data["x"], features["x"])
    expected = (clinical.set_index("sample")["response"] == "PR").astype(float).reindex(features.index)
    np.testing.assert_array_equal(data["outcome:response"], expected)
    assert stored["params"]["positive"] == ["PR"] and stored["params"]["n_boot"] == 50
    read = tk.get.associations(adata)
    pd.testing.assert_frame_equal(read, table)
    read["p"] = 0.0  # a copy
    assert not (adata.uns["tmekit_association"]["table"]["p"] == 0).all()
    assert list(tk.get.response_rates(adata).columns) == list(RATE_COLUMNS)
    with pytest.raises(ValueError, match=r"exists\. Pass `overwrite=True`"):
        tk.tl.associate(features, clinical, response="response", positive="PR", adata=adata)
    tk.tl.associate(features, clinical, response="response", positive="PR", n_boot=0, adata=adata, overwrite=True)
    path = tmp_path / "cohort.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(tk.get.associations(back), tk.get.associations(adata), check_dtype=False)


def test_bad_options_are_refused(cohort):
    features, clinical = cohort
    with pytest.raises(ValueError, match="Nothing to test"):
        tk.tl.associate(features, clinical)
    with pytest.raises(ValueError, match="needs both `duration=`"):
        tk.tl.associate(features, clinical, duration="months")
    with pytest.raises(ValueError, match=r"must hold 1 \(event"):
        tk.tl.associate(features, clinical.assign(death="yes"), duration="months", event="death")
    with pytest.raises(KeyError, match="not columns of `features`"):
        tk.tl.associate(features, clinical, response="response", positive="PR", features_to_test=["nope"])
    with pytest.warns(tk.IgnoredOptionWarning, match="adjust the Cox models"):
        tk.tl.associate(features, clinical, response="response", positive="PR", covariates=["age"], n_boot=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tk.tl.associate(features, clinical, response="response", positive="PR", n_boot=0)  # matched: no warning


@pytest.mark.parametrize(("n_events", "status"), [(9, "indeterminate"), (10, "ok"), (11, "ok")])
def test_min_events_at_just_below_and_just_above(n_events, status):
    gen = np.random.default_rng(5)
    ids = pd.Index([f"S{k:02d}" for k in range(40)], name="sample")
    features = pd.DataFrame({"x": gen.normal(size=40)}, index=ids)
    clinical = pd.DataFrame({"sample": ids, "months": gen.exponential(10.0, 40), "death": [1] * n_events +
                             [0] * (40 - n_events)})  # fmt: skip
    table = tk.tl.associate(features, clinical, duration="months", event="death", min_events=10)
    assert _rows(table, "x", "cox")["status"] == status


@pytest.mark.parametrize(("n_missing", "status"), [(19, "ok"), (20, "ok"), (21, "indeterminate")])
def test_max_missing_at_just_below_and_just_above(n_missing, status):
    """40 samples, max_missing 50%: 20 missing is at the cut (kept), 21 above it."""
    gen = np.random.default_rng(6)
    ids = pd.Index([f"S{k:02d}" for k in range(40)], name="sample")
    x = gen.normal(size=40)
    x[:n_missing] = np.nan
    features = pd.DataFrame({"x": x}, index=ids)
    clinical = pd.DataFrame({"sample": ids, "months": gen.exponential(10.0, 40), "death": 1})
    table = tk.tl.associate(features, clinical, duration="months", event="death", max_missing=0.5)
    assert _rows(table, "x", "cox")["status"] == status
