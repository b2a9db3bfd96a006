"""`tk.tl.associate`: which features of a cohort go with response or survival, one row per feature and test.

One value per sample or patient (:func:`tmekit.get.cohort_features`: cells are never pooled across patients), a
test per feature with its effect size and CI, Benjamini-Hochberg q values, and ``indeterminate`` (with the
reason) where the data are too thin to test. The tests themselves are in ``tl/_association_stats.py``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._clinical import is_categorical, match_ids, read_clinical
from tmekit._constants import ASSOCIATION_KEY
from tmekit._version import __version__
from tmekit._warnings import IgnoredOptionWarning, UnmatchedIdsWarning
from tmekit.tl import _association_stats as st
from tmekit.tl import _survival_stats as sv

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from anndata import AnnData

__all__ = ["COLUMNS", "RATE_COLUMNS", "associate"]

#: The tidy table's columns, in order.
COLUMNS = ("feature", "kind", "outcome", "test", "effect", "ci_low", "ci_high", "p", "q", "n", "n_events",
           "status", "reason")  # fmt: skip
#: The response-rate table's columns, in order.
RATE_COLUMNS = ("feature", "level", "n", "responders", "rate")
#: Which rows share a Benjamini-Hochberg adjustment: one test per feature and outcome (the primary family), and the
#: median-split log-rank tests of continuous features apart (a second look at the same features).
FAMILIES = {"auc": "primary", "fisher": "primary", "chi2": "primary", "cox": "primary", "logrank": "primary",
            "logrank_median": "median_split"}  # fmt: skip
#: Columns of a feature table that are bookkeeping, not features.
BOOKKEEPING = ("n_samples",)
_TEST_ORDER = {t: k for k, t in enumerate(("auc", "fisher", "chi2", "cox", "logrank", "logrank_median"))}


def _warn_unmatched(report: dict[str, Any], n_features: int, where: str) -> None:
    lost_f, lost_c = report["unmatched_features"], report["unmatched_clinical"]
    if not lost_f and not lost_c:
        return
    parts = []
    if lost_f:
        parts.append(f"{len(lost_f)} feature rows have no clinical row (first: {lost_f[:5]})")
    if lost_c:
        parts.append(f"{len(lost_c)} clinical rows have no feature row (first: {lost_c[:5]})")
    msg = (
        f"{report['matched']} of {n_features} feature rows matched ids of {where}; {'; '.join(parts)}. Only the "
        "matched ones are tested; the lists are in the result's `ids`."
    )
    warnings.warn(msg, UnmatchedIdsWarning, stacklevel=3)


def _response(column: pd.Series, positive: Any) -> tuple[pd.Series, list[str]]:
    """1.0 responder, 0.0 not, NaN unknown; and the values that count as response (as text)."""
    name = column.name
    known = column.dropna()
    levels = list(pd.unique(known))
    if positive is None:
        is_binary = all(isinstance(v, bool | int | float | np.bool_ | np.number) and v in (0, 1) for v in levels)
        if not is_binary or len(levels) > 2:  # fmt: skip
            msg = (
                f"`clinical[{name!r}]` has {len(levels)} values ({sorted(map(str, levels))[:6]}): say which count as "
                f"response with `positive=` (a value or a list, e.g. positive={str(levels[0]) if levels else 'CR'!r}); "
                "the others count as non-response, NaN as not evaluable. True/False and 1/0 need no `positive=`."
            )
            raise ValueError(msg)
        wanted = [True, 1]
    else:
        wanted = list(positive) if isinstance(positive, list | tuple | set | np.ndarray | pd.Index) else [positive]
        absent = [v for v in wanted if v not in set(levels)]
        if absent:
            msg = f"`positive` values {absent} do not occur in `clinical[{name!r}]` (its values: {levels[:10]})."
            raise ValueError(msg)
    out = pd.Series(np.where(column.isin(wanted), 1.0, 0.0), index=column.index)
    return out.where(column.notna()), [str(v) for v in (wanted if positive is not None else [True])]


def _survival(clinical: pd.DataFrame, duration: str, event: str) -> tuple[pd.Series, pd.Series]:
    for option, column in (("duration", duration), ("event", event)):
        if column not in clinical.columns:
            msg = f"`clinical[{column!r}]` not found ({option}=); its columns are {list(clinical.columns)[:20]}."
            raise KeyError(msg)
    times = pd.to_numeric(clinical[duration], errors="coerce")
    if (clinical[duration].notna() & times.isna()).any() or (times < 0).any():
        msg = f"`clinical[{duration!r}]` must hold non-negative numbers (times to event or censoring), NaN if unknown."
        raise ValueError(msg)
    raw = clinical[event]
    flags = pd.to_numeric(raw.astype("boolean") if pd.api.types.is_bool_dtype(raw) else raw, errors="coerce")
    if (raw.notna() & flags.isna()).any() or not set(flags.dropna().unique()) <= {0, 1}:
        msg = f"`clinical[{event!r}]` must hold 1 (event, e.g. death) or 0 (censored), or True/False; NaN if unknown."
        raise ValueError(msg)
    return times.astype(np.float64), flags.astype(np.float64)


def _levels(column: pd.Series) -> list[Any]:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [c for c in column.cat.categories if (column == c).any()]
    return sorted(column.dropna().unique(), key=str)


def _too_missing(values: pd.Series, max_missing: float) -> str:
    share = float(values.isna().mean()) if len(values) else 0.0
    return f"{share:.0%} of values missing (> max_missing={max_missing:.0%})" if share > max_missing else ""


def _row(feature: str, kind: str, outcome: str, test: str, result: st.Result, *, n: int, events: int) -> dict[str, Any]:
    ok = not result.reason
    nan = np.nan
    return {"feature": feature, "kind": kind, "outcome": outcome, "test": test,
            "effect": result.effect if ok else nan, "ci_low": result.ci_low if ok else nan,
            "ci_high": result.ci_high if ok else nan, "p": result.p if ok else nan, "q": nan, "n": int(n),
            "n_events": int(events), "status": "ok" if ok else "indeterminate", "reason": result.reason}  # fmt: skip


def _response_rows(features: pd.DataFrame, y: pd.Series, *, min_group: int, max_missing: float, n_boot: int,
                   rng: np.random.Generator) -> tuple[list[dict[str, Any]], pd.DataFrame]:  # fmt: skip
    known = y.notna().to_numpy()
    y_known = y[known].to_numpy() > 0.5  # 1.0 responder, 0.0 not
    data = features[known]
    rows, rates = [], []
    continuous = [c for c in data.columns if not is_categorical(data[c])]
    values = data[continuous].to_numpy(dtype=np.float64) if continuous else np.empty((len(data), 0))
    low, high = st.bootstrap_auc(values, y_known, n_boot=n_boot, rng=rng)
    for name in data.columns:
        column = data[name]
        if name in continuous:
            f = continuous.index(name)
            x = values[:, f]
            measured = np.isfinite(x)
            pos, neg = x[measured & y_known], x[measured & ~y_known]
            reason = _too_missing(column.astype(np.float64).where(measured), max_missing)
            if not reason and min(len(pos), len(neg)) < min_group:
                reason = f"{len(pos)} responders and {len(neg)} non-responders measured (< min_group={min_group})"
            if not reason and np.ptp(x[measured]) == 0:
                reason = "constant feature"
            result = st.Result(reason=reason) if reason else st.mann_whitney_auc(pos, neg)
            if not reason:
                result = result._replace(ci_low=float(low[f]), ci_high=float(high[f]))
            rows.append(_row(name, "continuous", "response", "auc", result, n=measured.sum(), events=len(pos)))
            continue
        levels = _levels(column)
        counts = pd.DataFrame({"n": [int((column == v).sum()) for v in levels],
                               "responders": [int(((column == v).to_numpy() & y_known).sum()) for v in levels]},
                              index=levels)  # fmt: skip
        rates += [{"feature": name, "level": str(v), "n": int(r.n), "responders": int(r.responders),
                   "rate": r.responders / r.n if r.n else np.nan} for v, r in counts.iterrows()]  # fmt: skip
        tested = counts[counts["n"] >= min_group]
        table = pd.DataFrame({"responders": tested["responders"], "others": tested["n"] - tested["responders"]})
        n, events = int(tested["n"].sum()), int(tested["responders"].sum())
        test = "fisher" if len(tested) <= 2 else "chi2"
        reason = _too_missing(column, max_missing)
        if not reason and len(tested) < 2:
            reason = f"fewer than 2 levels with >= min_group={min_group} samples ({dict(counts['n'])})"
        if not reason and min(events, n - events) < min_group:
            reason = (
                f"{events} responders and {n - events} non-responders in the levels tested (< min_group={min_group})"
            )
        result = st.Result(reason=reason) if reason else st.categorical_response(table)
        rows.append(_row(name, "categorical", "response", test, result, n=n, events=events))
    return rows, pd.DataFrame(rates, columns=list(RATE_COLUMNS))


def _covariate_frame(clinical: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in covariates if c not in clinical.columns]
    if missing:
        msg = f"Covariates {missing} are not columns of the clinical table ({list(clinical.columns)[:20]})."
        raise KeyError(msg)
    parts = []
    for name in covariates:
        column = clinical[name]
        if is_categorical(column):
            dummies = pd.get_dummies(
                column.astype("category"), prefix=f"covariate:{name}", drop_first=True, dtype=float
            )
            dummies[column.isna().to_numpy()] = np.nan
            parts.append(dummies)
        else:
            parts.append(column.astype(np.float64).rename(f"covariate:{name}"))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=clinical.index)


def _survival_rows(features: pd.DataFrame, times: pd.Series, events: pd.Series, covariates: pd.DataFrame, *,
                   min_group: int, min_events: int, max_missing: float) -> list[dict[str, Any]]:  # fmt: skip
    known = (times.notna() & events.notna() & covariates.notna().all(axis=1)).to_numpy()
    data, t, e, cov = features[known], times[known].to_numpy(), events[known].to_numpy(), covariates[known]
    continuous = [c for c in data.columns if not is_categorical(data[c])]
    values = data[continuous].to_numpy(dtype=np.float64) if continuous else np.empty((len(data), 0))
    measured = np.isfinite(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature never measured: no median (and not tested)
        high = values > np.nanmedian(values, axis=0) if len(values) else measured
    reasons, splits = [], []
    for f, name in enumerate(continuous):
        n, n_events = int(measured[:, f].sum()), int(e[measured[:, f]].sum())
        reason = _too_missing(data[name], max_missing)
        if not reason and n_events < min_events:
            reason = f"{n_events} events among {n} samples measured (< min_events={min_events})"
        if not reason and np.ptp(values[measured[:, f], f]) == 0:
            reason = "constant feature"
        n_high, n_low = int((high[:, f] & measured[:, f]).sum()), int((~high[:, f] & measured[:, f]).sum())
        split = reason or ("" if min(n_high, n_low) >= min_group else
                           f"{n_high} above and {n_low} at or below the median (< min_group={min_group})")  # fmt: skip
        reasons.append(reason)
        splits.append(split)
    tested = [f for f, reason in enumerate(reasons) if not reason]
    if cov.shape[1]:  # adjusted: one lifelines model per feature (~0.5 s each at 10,000 samples)
        frames = (pd.concat([pd.DataFrame({"feature": values[:, f], "duration": t, "event": e}, index=data.index),
                             cov], axis=1)[measured[:, f]] for f in tested)  # fmt: skip
        fits = [st.cox(frame, feature="feature", duration="duration", event="event") for frame in frames]
    else:  # the feature alone: all features fitted together, each as lifelines would fit it
        fits = sv.cox_univariate(values[:, tested], t, e)
    cox = dict(zip(tested, fits, strict=True))
    split_tested = [f for f, split in enumerate(splits) if not split]
    logrank_p = dict(zip(split_tested, sv.logrank_two_groups(t, e, high[:, split_tested], measured[:, split_tested]),
                         strict=True))  # fmt: skip
    position = {name: f for f, name in enumerate(continuous)}
    rows = []
    for name in data.columns:
        column = data[name]
        if name in position:
            f = position[name]
            n, n_events = int(measured[:, f].sum()), int(e[measured[:, f]].sum())
            result = cox[f] if f in cox else st.Result(reason=reasons[f])
            rows.append(_row(name, "continuous", "survival", "cox", result, n=n, events=n_events))
            result = st.Result(p=float(logrank_p[f])) if f in logrank_p else st.Result(reason=splits[f])
            rows.append(_row(name, "continuous", "survival", "logrank_median", result, n=n, events=n_events))
            continue
        measured_c = column.notna().to_numpy()
        n, n_events = int(measured_c.sum()), int(e[measured_c].sum())
        base = _too_missing(column, max_missing)
        if not base and n_events < min_events:
            base = f"{n_events} events among {n} samples measured (< min_events={min_events})"
        sizes = column[measured_c].value_counts()
        kept = measured_c & column.isin(sizes.index[sizes >= min_group]).to_numpy()
        reason = base or ("" if (sizes >= min_group).sum() >= 2 else
                          f"fewer than 2 levels with >= min_group={min_group} samples ({dict(sizes)})")  # fmt: skip
        if not reason and int(e[kept].sum()) < min_events:
            reason = f"{int(e[kept].sum())} events in the levels tested (< min_events={min_events})"
        groups = column[kept].astype(str).to_numpy()
        result = st.Result(reason=reason) if reason else st.logrank(t[kept], e[kept], groups)
        rows.append(_row(name, "categorical", "survival", "logrank", result, n=kept.sum(), events=e[kept].sum()))
    return rows


def _tidy(rows: list[dict[str, Any]], order: Sequence[str]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    position = {name: k for k, name in enumerate(order)}
    keys = (table["outcome"].map({"response": 0, "survival": 1}) * 10_000_000 + table["feature"].map(position) * 10
            + table["test"].map(_TEST_ORDER))  # fmt: skip
    table = table.iloc[np.argsort(keys.to_numpy(), kind="stable")].reset_index(drop=True)
    family = table["outcome"] + ":" + table["test"].map(FAMILIES)
    for name in family.unique():
        rows_in = (family == name).to_numpy()
        table.loc[rows_in, "q"] = st.benjamini_hochberg(table.loc[rows_in, "p"].to_numpy())
    return table.astype({"n": np.int64, "n_events": np.int64, "effect": float, "ci_low": float, "ci_high": float,
                         "p": float, "q": float})  # fmt: skip


def associate(
    features: pd.DataFrame,
    clinical: pd.DataFrame | str | Path,
    *,
    id_key: str | None = None,
    response: str | None = None,
    positive: Any = None,
    duration: str | None = None,
    event: str | None = None,
    covariates: Sequence[str] | None = None,
    features_to_test: Sequence[str] | None = None,
    min_group: int = 5,
    min_events: int = 10,
    max_missing: float = 0.5,
    n_boot: int = 1000,
    rng: np.random.Generator | int | None = 0,
    adata: AnnData | None = None,
    key_added: str = ASSOCIATION_KEY,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Test every feature of a cohort against response and/or survival: effect, 95% CI, p, BH q, per feature.

    One value per sample or patient goes in (:func:`tmekit.get.cohort_features`, or any samples x features table):
    cells are never the unit, so a patient with many cells or images counts once.

    **Response** (``response=``, binary): continuous features get the AUC (probability that a responder's value
    exceeds a non-responder's, ties one half; the same number as scikit-learn's ``roc_auc_score``; > 0.5: higher in
    responders) with a stratified percentile bootstrap 95% CI (``n_boot`` replicates, responders and non-responders
    resampled apart) and the two-sided Mann-Whitney p (``scipy.stats.mannwhitneyu``). Categorical features (words,
    categories, True/False: the phenotype) get Fisher's exact test with two levels (effect: the conditional maximum
    likelihood odds ratio of response in the first level over the second, levels in category order or sorted, exact
    CI, as R's ``fisher.test``) and a chi-square test with more (no effect size); the response rate per level goes
    to ``rates`` (:func:`tmekit.get.response_rates`).

    **Survival** (``duration=``, ``event=``): continuous features get a Cox model (Efron ties) of the z-scored
    feature, so ``effect`` is the hazard ratio per standard deviation, with its 95% CI and Wald p; and a log-rank
    test of the samples above vs at or below the median (``logrank_median``). Categorical features get a log-rank
    test across their levels (``logrank``, lifelines ``multivariate_logrank_test``). Without ``covariates`` the Cox
    models and median-split tests of all features are computed together (lifelines ``CoxPHFitter``'s
    Newton-Raphson and ``logrank_test``, vectorised; equal to lifelines to rounding; 10,000 samples x 200 features
    in a few seconds; a fit in trouble is redone by lifelines); with ``covariates`` each feature's adjusted model is
    a lifelines ``CoxPHFitter`` fit of its own, slower (~0.5 s per feature at 10,000 samples).

    **q**: Benjamini-Hochberg (``scipy.stats.false_discovery_control``) over the rows with a p of one outcome and one
    family: the *primary* family holds one test per feature (``auc``, ``fisher``, ``chi2`` for response; ``cox`` and
    ``logrank`` for survival), the ``logrank_median`` rows are adjusted apart (a second look at the same features).

    **Indeterminate** (``status``, with the ``reason``; effect, CI, p and q NaN, left out of the adjustment): more
    than ``max_missing`` of the feature missing; fewer than ``min_group`` responders or non-responders measured;
    a constant feature; fewer than ``min_events`` events; a median split with fewer than ``min_group`` on a side;
    fewer than two levels seen in ``min_group`` samples each (levels seen less often are left out of a categorical
    test and reported in ``rates``); a Cox model that does not converge.

    **Ids** are compared as text (``1`` and ``"1"`` match); only matched ids are tested, and unmatched ones on either
    side are reported (a :class:`~tmekit.UnmatchedIdsWarning` saying how many matched, and in ``ids``). Results do
    not depend on the row order of either table.

    Parameters
    ----------
    features
        Samples (or patients) x features, indexed by id: :func:`tmekit.get.cohort_features`. ``n_samples`` is
        bookkeeping and not tested.
    clinical
        A DataFrame or the path of a CSV file, one row per sample or patient.
    id_key
        Column of ``clinical`` holding the ids. ``None``: the column named as the feature table's index (e.g.
        ``patient_id``) when there is one, else the index of ``clinical``.
    response, positive
        Binary outcome column, and the value or values of it that count as response (``["CR", "PR"]``); the other
        values count as non-response, NaN as not evaluable. ``positive`` may be left out for True/False or 1/0.
    duration, event
        Survival: time to event or censoring, and the event flag (1 / True: event, e.g. death).
    covariates
        Clinical columns adjusting the Cox models (categorical ones as indicator columns); samples missing one are
        left out of the survival tests. Response tests and log-rank tests are not adjusted. Adjusted models are
        fitted one feature at a time by lifelines (slower than the unadjusted ones, which are fitted together).
    features_to_test
        Columns of ``features`` to test (default: all but ``n_samples``).
    min_group, min_events, max_missing
        The thresholds below which a test is ``indeterminate`` (above).
    n_boot, rng
        Bootstrap replicates of the AUC CI (0: no CI) and their seed or generator.
    adata, key_added, overwrite
        When ``adata`` is given, the results are also stored in ``adata.uns[key_added]`` (``{"table", "rates",
        "params", "ids"}``; read with :func:`tmekit.get.associations`), once everything succeeded; an existing key is
        replaced only with ``overwrite=True``.

    Returns
    -------
    The tidy table, one row per feature and test, columns ``feature``, ``kind`` (continuous / categorical),
    ``outcome`` (response / survival), ``test`` (auc, fisher, chi2, cox, logrank, logrank_median), ``effect``
    (AUC, odds ratio, hazard ratio per SD; NaN for chi2 and log-rank), ``ci_low``, ``ci_high``, ``p``, ``q``, ``n``
    (samples tested), ``n_events`` (responders, or events), ``status`` (ok / indeterminate), ``reason``. Rows are
    ordered by outcome, then feature (the table's column order), then test. ``.attrs`` holds ``params``, ``ids``
    and ``rates`` (as records).

    Examples
    --------
    >>> import pandas as pd
    >>> import tmekit as tk
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, library_key="patient_id", microns_per_unit=800 / 2048, n_boot=20)
    >>> features = tk.get.cohort_features(adata)
    >>> clinical = pd.DataFrame({"patient_id": ["1", "2", "3", "4"], "responder": [True, True, False, False]})
    >>> table = tk.tl.associate(features, clinical, response="responder", min_group=2, n_boot=200)
    >>> table.loc[table["feature"] == "evidence:density_cd8_core", ["test", "effect", "status"]].to_numpy().tolist()
    [['auc', 0.75, 'ok']]
    """
    if adata is not None and key_added in adata.uns and not overwrite:
        msg = f"`adata.uns[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        raise ValueError(msg)
    if response is None and duration is None and event is None:
        msg = "Nothing to test: pass `response=` (binary outcome) and/or `duration=` with `event=` (survival)."
        raise ValueError(msg)
    if (duration is None) != (event is None):
        msg = "Survival needs both `duration=` (time) and `event=` (1 = event, 0 = censored)."
        raise ValueError(msg)
    if covariates and duration is None:
        warnings.warn("`covariates` adjust the Cox models of a survival outcome; with `response=` only they are "
                      "ignored (pass `duration=` and `event=`).", IgnoredOptionWarning, stacklevel=2)  # fmt: skip
    for name, value in (("min_group", min_group), ("min_events", min_events), ("n_boot", n_boot)):
        if not isinstance(value, int | np.integer) or value < (0 if name == "n_boot" else 1):
            msg = f"`{name}` must be a {'non-negative' if name == 'n_boot' else 'positive'} integer, got {value!r}."
            raise ValueError(msg)
    if not 0 <= max_missing <= 1:
        msg = f"`max_missing` is a share of samples, between 0 and 1; got {max_missing!r}."
        raise ValueError(msg)
    if not isinstance(features, pd.DataFrame):
        msg = f"`features` must be a DataFrame (samples x features, e.g. tk.get.cohort_features), got {type(features)}."
        raise TypeError(msg)
    chosen = (
        [c for c in features.columns if c not in BOOKKEEPING] if features_to_test is None else list(features_to_test)
    )
    unknown = [c for c in chosen if c not in features.columns]
    if unknown:
        msg = f"`features_to_test` names {unknown[:5]}, which are not columns of `features`."
        raise KeyError(msg)
    table_in = read_clinical(clinical)
    matched, clin, report, where = match_ids(features[chosen], table_in, id_key)
    _warn_unmatched(report, len(features), where)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
    rows: list[dict[str, Any]] = []
    rates = pd.DataFrame(columns=list(RATE_COLUMNS))
    wanted: list[str] = []
    if response is not None:
        if response not in clin.columns:
            msg = f"`clinical[{response!r}]` not found (response=); its columns are {list(clin.columns)[:20]}."
            raise KeyError(msg)
        y, wanted = _response(clin[response], positive)
        found, rates = _response_rows(matched, y, min_group=min_group, max_missing=max_missing, n_boot=n_boot, rng=gen)
        rows += found
    if duration is not None and event is not None:
        times, flags = _survival(clin, duration, event)
        cov = _covariate_frame(clin, list(covariates or []))
        rows += _survival_rows(matched, times, flags, cov, min_group=min_group, min_events=min_events,
                               max_missing=max_missing)  # fmt: skip
    table = _tidy(rows, chosen)
    params = {
        "id_key": id_key or "", "ids_from": where, "response": response or "", "positive": wanted,
        "duration": duration or "", "event": event or "", "covariates": list(covariates or []),
        "features_tested": chosen, "min_group": int(min_group), "min_events": int(min_events),
        "max_missing": float(max_missing), "n_boot": int(n_boot),
        "rng": int(rng) if isinstance(rng, int | np.integer) else ("generator" if rng is not None else 0),
        "confidence_level": st.CONFIDENCE,
        "q": "Benjamini-Hochberg within outcome x family: primary (auc, fisher, chi2 | cox, logrank), "
             "median_split (logrank_median)",
        "auc_ci": "stratified percentile bootstrap",
        "cox": "lifelines CoxPHFitter, Efron ties, feature z-scored (its Newton-Raphson vectorised without covariates)",
        "tmekit_version": __version__,
    }  # fmt: skip
    outcomes = {f"outcome:{response}": y} if response is not None else {}
    if duration is not None and event is not None:
        outcomes |= {f"outcome:{duration}": times, f"outcome:{event}": flags}
    data = matched.assign(**outcomes)  # the values tested, per matched id: what the report's plots draw
    # attrs stay small (pandas deep-copies them on every operation on the table): the values tested go to uns only
    table.attrs = {"params": params, "ids": report, "rates": rates.to_dict(orient="records")}
    if adata is not None:
        adata.uns[key_added] = {"table": table.copy(), "rates": rates, "params": params, "ids": dict(report),
                                "data": data}  # fmt: skip
    return table
