"""The statistics behind :func:`tmekit.tl.associate`, one function per test, each from a well-kept library.

- AUC and Mann-Whitney p: ``scipy.stats.mannwhitneyu`` (AUC = U / (n1 n0), the same number as scikit-learn's
  ``roc_auc_score``); its 95% CI by a stratified percentile bootstrap, all features at once (:func:`bootstrap_auc`).
- Categorical features x response: ``scipy.stats.fisher_exact`` for two levels (with the conditional maximum
  likelihood odds ratio and its exact CI, ``scipy.stats.contingency.odds_ratio``, as R's ``fisher.test``), else
  ``scipy.stats.chi2_contingency``.
- Survival: lifelines' ``CoxPHFitter`` (Efron ties; the feature z-scored, so the hazard ratio is per standard
  deviation) and log-rank tests (``logrank_test``, ``multivariate_logrank_test``), imported when first needed.
- Benjamini-Hochberg: ``scipy.stats.false_discovery_control``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import numba
import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Result",
    "benjamini_hochberg",
    "bootstrap_auc",
    "categorical_response",
    "cox",
    "logrank",
    "mann_whitney_auc",
]

#: Two-sided confidence level of every interval.
CONFIDENCE = 0.95
#: Bootstrap counts held at once (replicates x samples): about 40 MB of int32.
_BOOT_CELLS = 10_000_000


class Result(NamedTuple):
    """One test's numbers; ``reason`` non-empty when the test could not be made (then p is NaN)."""

    effect: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    p: float = np.nan
    reason: str = ""


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q values of ``p`` (NaN stays NaN and is not counted among the tests)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = stats.false_discovery_control(p[tested], method="bh")
    return q


def mann_whitney_auc(x_pos: np.ndarray, x_neg: np.ndarray) -> Result:
    """AUC = U / (n1 n0) of responders' over non-responders' values (ties count one half) and the two-sided p."""
    test = stats.mannwhitneyu(x_pos, x_neg, alternative="two-sided")
    return Result(effect=float(test.statistic) / (len(x_pos) * len(x_neg)), p=float(test.pvalue))


@numba.njit(cache=True, parallel=True)
def _bootstrap_u(order, ptr, new_value, positive, counts):
    """Twice the Mann-Whitney U, and n1, n0, of every bootstrap replicate (rows of ``counts``) for every feature.

    ``order[ptr[f]:ptr[f + 1]]``: the samples where feature f is measured, by increasing value; ``new_value``: True
    where the value differs from the one before. ``counts[b, i]``: how often replicate b drew sample i. One pass per
    replicate over each run of equal values: a responder's weight times the non-responders' weight below the run
    plus half of theirs inside it.
    """
    n_boot, n_features = counts.shape[0], len(ptr) - 1
    u2 = np.zeros((n_boot, n_features), dtype=np.int64)
    n1 = np.zeros((n_boot, n_features), dtype=np.int64)
    n0 = np.zeros((n_boot, n_features), dtype=np.int64)
    for f in numba.prange(n_features):
        for b in range(n_boot):
            below, total_pos, twice_u, run_pos, run_neg = 0, 0, 0, 0, 0
            for k in range(ptr[f], ptr[f + 1]):
                if new_value[k]:
                    twice_u += run_pos * (2 * below + run_neg)
                    below += run_neg
                    total_pos += run_pos
                    run_pos, run_neg = 0, 0
                i = order[k]
                if positive[i]:
                    run_pos += counts[b, i]
                else:
                    run_neg += counts[b, i]
            twice_u += run_pos * (2 * below + run_neg)
            u2[b, f], n1[b, f], n0[b, f] = twice_u, total_pos + run_pos, below + run_neg
    return u2, n1, n0


def _replicate_counts(
    generators: Sequence[np.random.Generator], pos: np.ndarray, neg: np.ndarray, n: int
) -> np.ndarray:
    """How often each sample is drawn in each replicate: responders and non-responders resampled apart."""
    counts = np.zeros((len(generators), n), dtype=np.int32)
    for row, gen in enumerate(generators):
        counts[row] += np.bincount(pos[gen.integers(0, len(pos), size=len(pos))], minlength=n).astype(np.int32)
        counts[row] += np.bincount(neg[gen.integers(0, len(neg), size=len(neg))], minlength=n).astype(np.int32)
    return counts


def bootstrap_auc(
    values: np.ndarray, positive: np.ndarray, *, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile 95% CI of the AUC of each column of ``values`` (samples x features; NaN: not measured).

    Stratified: each replicate draws the responders and the non-responders apart, with replacement, as many as there
    are (pROC's default); every feature sees the same replicates, each feature only its measured samples. Replicate b
    draws from its own generator spawned from ``rng``, so the result does not depend on how replicates are chunked.
    """
    n, n_features = values.shape
    low, high = np.full(n_features, np.nan), np.full(n_features, np.nan)
    if n_boot < 1 or n_features == 0:
        return low, high
    order_parts, new_parts, ptr = [], [], np.zeros(n_features + 1, dtype=np.int64)
    for f in range(n_features):
        column = values[:, f]
        measured = np.flatnonzero(np.isfinite(column))
        idx = measured[np.argsort(column[measured], kind="stable")]
        sorted_values = column[idx]
        order_parts.append(idx)
        new_parts.append(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]) if idx.size else idx > 0)
        ptr[f + 1] = ptr[f] + idx.size
    order = np.concatenate(order_parts).astype(np.int64)
    new_value = np.concatenate(new_parts).astype(np.bool_)
    positive = np.asarray(positive, dtype=np.bool_)
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    generators = rng.spawn(n_boot)
    chunk = max(1, _BOOT_CELLS // max(n, 1))
    aucs = np.empty((n_boot, n_features))
    for start in range(0, n_boot, chunk):
        counts = _replicate_counts(generators[start : start + chunk], pos, neg, n)
        u2, n1, n0 = _bootstrap_u(order, ptr, new_value, positive, counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs[start : start + len(counts)] = np.where((n1 > 0) & (n0 > 0), u2 / (2.0 * n1 * n0), np.nan)
    alpha = (1 - CONFIDENCE) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (a feature never measured) stays NaN
        low, high = np.nanquantile(aucs, [alpha, 1 - alpha], axis=0)
    return low, high


def categorical_response(table: pd.DataFrame) -> Result:
    """Fisher's exact test (two levels: odds ratio of the first level over the second, exact CI) or chi-square.

    ``table``: levels x (responders, non-responders) counts.
    """
    counts = table.to_numpy(dtype=np.int64)
    if len(counts) == 2:
        p = float(stats.fisher_exact(counts).pvalue)
        ratio = stats.contingency.odds_ratio(counts, kind="conditional")
        ci = ratio.confidence_interval(confidence_level=CONFIDENCE)
        return Result(effect=float(ratio.statistic), ci_low=float(ci.low), ci_high=float(ci.high), p=p)
    return Result(p=float(stats.chi2_contingency(counts, correction=False).pvalue))


def cox(frame: pd.DataFrame, *, feature: str, duration: str, event: str) -> Result:
    """Hazard ratio per standard deviation of ``feature`` (z-scored here), its CI and Wald p (lifelines' CoxPHFitter).

    The other columns of ``frame`` but ``duration`` and ``event`` (numbers: covariates, indicator columns of
    categorical ones) adjust the model.
    """
    from lifelines import CoxPHFitter  # lifelines takes ~2 s to import: only when needed
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    data = frame.copy()
    column = data[feature].to_numpy(dtype=np.float64)
    data[feature] = (column - column.mean()) / column.std(ddof=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = CoxPHFitter().fit(data, duration_col=duration, event_col=event)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            return Result(reason=f"Cox model did not converge: {first}")
    trouble = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    if trouble:
        first = str(trouble[0].message).strip().splitlines()[0]
        return Result(reason=f"Cox model did not converge: {first}")
    row = model.summary.loc[feature]
    alpha = 1 - CONFIDENCE
    if not np.isclose(model.alpha, alpha):  # lifelines' default alpha is 0.05; say so if that ever changes
        msg = f"lifelines CoxPHFitter alpha {model.alpha} != {alpha}"
        raise RuntimeError(msg)
    return Result(effect=float(row["exp(coef)"]), ci_low=float(row["exp(coef) lower 95%"]),
                  ci_high=float(row["exp(coef) upper 95%"]), p=float(row["p"]))  # fmt: skip


def logrank(durations: np.ndarray, events: np.ndarray, groups: np.ndarray) -> Result:
    """Log-rank p across the values of ``groups`` (two: ``logrank_test``; more: ``multivariate_logrank_test``)."""
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    levels = pd.unique(groups)
    if len(levels) == 2:
        a, b = groups == levels[0], groups == levels[1]
        test = logrank_test(durations[a], durations[b], event_observed_A=events[a], event_observed_B=events[b])
    else:
        test = multivariate_logrank_test(durations, groups, events)
    return Result(p=float(test.p_value))
