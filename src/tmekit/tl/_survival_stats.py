"""Survival statistics of :func:`tmekit.tl.associate` for many features at once, each equal to lifelines' to rounding.

- :func:`cox_univariate`: one Cox model per feature (the z-scored feature alone, Efron ties), all fitted together
  by the Newton-Raphson of lifelines' ``CoxPHFitter`` (same normalisation, step sizes, stopping rules and warnings),
  vectorised over features: the samples are sorted by time once, the risk-set sums are reverse cumulative sums. A
  feature whose fit runs into trouble (no convergence, separation, a non-positive information) is fitted again by
  lifelines itself (:func:`tmekit.tl._association_stats.cox`), so it gets the same ``indeterminate`` reason.
- :func:`logrank_two_groups`: the two-group log-rank test of lifelines' ``logrank_test`` (observed minus expected
  and its hypergeometric variance over the distinct times, chi-square with 1 df), one group split per feature.

lifelines stays the reference: the tests compare both functions with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tmekit.tl._association_stats import CONFIDENCE, Result, cox

__all__ = ["cox_univariate", "logrank_two_groups"]

#: lifelines ``CoxPHFitter``'s Newton-Raphson (``_newton_raphson_for_efron_model``): first step size, the norm of
#: the step and the Newton decrement below which it stops, the relative change of the log-likelihood below which it
#: stops, the most steps.
_STEP, _PRECISION, _R_PRECISION, _MAX_STEPS = 0.95, 1e-7, 1e-9, 500
#: Samples x features fitted together (a block's arrays: ~8 MB each; a few dozen of them at once).
_CELLS = 1_000_000


def _by_time(durations: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The order by (time, event), where each run of equal times starts in it, and the sorted event flags."""
    order = np.lexsort((events, durations))
    t = durations[order]
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]]) if len(t) else np.zeros(0, dtype=np.int64)
    return order, starts, events[order] > 0.5


class _Efron:
    """Log partial likelihood (Efron ties), its gradient and its second derivative of many one-covariate Cox models.

    ``x`` (samples x features, normalised; 0 where not measured) and ``measured`` (0/1) sorted by time. For each
    time with events, slot l = 0 .. d-1 of its d deaths (of the feature's measured samples) takes l/d of the deaths'
    sums off the risk set's sums: lifelines' ``_get_efron_values_single`` with weights 1, all features at once.
    """

    def __init__(self, x: np.ndarray, measured: np.ndarray, starts: np.ndarray, dead: np.ndarray) -> None:
        self.x, self.measured, self.starts, self.dead = x, measured, starts, dead
        deaths = np.add.reduceat(dead.astype(np.float64), starts) if len(starts) else np.zeros(0)
        self.event_times = np.flatnonzero(deaths > 0)
        per_time = deaths[self.event_times].astype(np.int64)  # deaths at each event time, any feature measured
        self.slot_time = np.repeat(np.arange(len(per_time)), per_time)
        slot_l = np.arange(per_time.sum()) - np.repeat(np.cumsum(per_time) - per_time, per_time)
        dead_measured = measured * dead[:, None]
        count = self._per_time(dead_measured)[self.slot_time]  # deaths measured at the slot's time, per feature
        self.used = slot_l[:, None] < count
        self.frac = np.where(self.used, slot_l[:, None] / np.maximum(count, 1), 0.0)
        self.x_dead = (x * dead_measured).sum(axis=0)

    def _per_time(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.starts, axis=0)[self.event_times]

    def __call__(self, beta: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Second derivative, gradient and log partial likelihood at ``beta`` of the features ``cols``."""
        x, dead = self.x[:, cols], self.dead[:, None]
        phi = self.measured[:, cols] * np.exp(x * beta)
        sums = []
        for power in (phi, phi * x, phi * x * x):
            by_time = np.add.reduceat(power, self.starts, axis=0)
            at_risk = np.cumsum(by_time[::-1], axis=0)[::-1][self.event_times]
            sums.append((at_risk[self.slot_time], self._per_time(power * dead)[self.slot_time]))
        (r0, d0), (r1, d1), (r2, d2) = sums
        frac, used = self.frac[:, cols], self.used[:, cols]
        denom = np.where(used, r0 - frac * d0, 1.0)
        mean = np.where(used, (r1 - frac * d1) / denom, 0.0)
        second = np.where(used, (r2 - frac * d2) / denom, 0.0)
        x_dead = self.x_dead[cols]
        gradient = x_dead - mean.sum(axis=0)
        hessian = (mean * mean - second).sum(axis=0)
        log_lik = beta * x_dead - np.where(used, np.log(denom), 0.0).sum(axis=0)
        return hessian, gradient, log_lik


class _StepSizer:
    """lifelines' ``utils.StepSizer`` for many fits at once (scale 1.3, look back 3 steps)."""

    def __init__(self, n: int) -> None:
        self.size = np.full(n, _STEP)
        self.temper = np.zeros(n, dtype=bool)
        self.last = np.full((n, 2), np.nan)  # the two norms of delta before the newest
        self.seen = np.zeros(n, dtype=np.int64)

    def update(self, norm: np.ndarray, cols: np.ndarray) -> None:
        size, temper = self.size[cols], self.temper[cols]
        size = np.where(temper, np.minimum(size * 1.3, _STEP), size)
        big, mid = norm >= 15.0, (norm > 5.0) & (norm < 15.0)
        size = np.where(big, size * 0.1, np.where(mid, size * 0.25, size))
        temper |= big | mid
        seen = self.seen[cols] + 1
        previous = self.last[cols]
        falling = (previous[:, 1] < previous[:, 0]) & (norm < previous[:, 1])
        size = np.where((seen >= 3) & ~falling, size * 0.98, size)
        size = np.where((seen >= 3) & falling, np.minimum(size * 1.3, 1.0), size)
        self.size[cols], self.temper[cols], self.seen[cols] = size, temper, seen
        self.last[cols] = np.column_stack([previous[:, 1], norm])


def _newton_raphson(model: _Efron, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Newton-Raphson of lifelines for every feature: beta, its second derivative, and whether the fit went well."""
    beta, delta = np.zeros(n_features), np.zeros(n_features)
    hessian, fine = np.full(n_features, np.nan), np.zeros(n_features, dtype=bool)
    previous_ll = np.zeros(n_features)
    sizer = _StepSizer(n_features)
    cols = np.arange(n_features)
    step = 0
    while cols.size:
        beta[cols] += sizer.size[cols] * delta[cols]
        step += 1
        with np.errstate(all="ignore"):
            h, g, ll = model(beta[cols], cols)
            d = g / -h
        # lifelines: -h must be positive definite (else a LinAlgError), the step and the likelihood finite
        broken = ~(-h > 0) | ~np.isfinite(d) | ~np.isfinite(ll)
        norm = np.abs(d)
        with np.errstate(all="ignore"):
            converged = (norm < _PRECISION) | (
                (previous_ll[cols] != 0) & (np.abs(ll - previous_ll[cols]) / -previous_ll[cols] < _R_PRECISION)
            )
        converged |= g * d / 2 < _PRECISION
        failed = (step >= _MAX_STEPS) | (sizer.size[cols] <= 0.00001) | ((np.abs(ll) < 0.0001) & (norm > 1.0))
        done = broken | converged | failed
        hessian[cols] = h
        # lifelines warns (ConvergenceWarning) when it stops with a step still larger than 0.1
        fine[cols[done]] = (~broken & converged & (norm <= 0.1))[done]
        delta[cols], previous_ll[cols] = d, ll
        sizer.update(norm, cols)
        cols = cols[~done]
    return beta, hessian, fine


def cox_univariate(values: np.ndarray, durations: np.ndarray, events: np.ndarray) -> list[Result]:
    """Hazard ratio per SD, 95% Wald CI and Wald p of each column of ``values`` alone (NaN: not measured).

    Each column is z-scored over its measured samples (as :func:`tmekit.tl._association_stats.cox`) and fitted on
    them, as lifelines' ``CoxPHFitter().fit`` would; columns whose fit ran into trouble are fitted by lifelines.
    """
    n_features = values.shape[1]
    if n_features == 0:
        return []
    measured = np.isfinite(values)
    with np.errstate(all="ignore"):
        z = (values - np.nanmean(values, axis=0)) / np.nanstd(values, axis=0, ddof=1)
        # lifelines normalises its columns once more (mean 0, SD 1) and scales beta back by that SD
        norm_std = np.nanstd(z, axis=0, ddof=1)
        x = np.where(measured, (z - np.nanmean(z, axis=0)) / norm_std, 0.0)
    order, starts, dead = _by_time(durations, events)
    beta, hessian, fine = np.zeros(n_features), np.zeros(n_features), np.zeros(n_features, dtype=bool)
    block = max(1, _CELLS // max(len(order), 1))
    for first in range(0, n_features, block):
        cols = slice(first, first + block)
        model = _Efron(np.ascontiguousarray(x[order, cols]), measured[order, cols].astype(np.float64), starts, dead)
        beta[cols], hessian[cols], fine[cols] = _newton_raphson(model, model.x.shape[1])
    coef = beta / norm_std
    se = np.sqrt(-1.0 / hessian) / norm_std
    crit = stats.norm.ppf(1 - (1 - CONFIDENCE) / 2)
    hr = np.exp(coef)
    p = stats.chi2.sf((coef / se) ** 2, 1)
    results = []
    for f in range(n_features):
        if fine[f]:
            lo, hi = hr[f] * np.exp(-crit * se[f]), hr[f] * np.exp(crit * se[f])
            results.append(Result(effect=float(hr[f]), ci_low=float(lo), ci_high=float(hi), p=float(p[f])))
            continue
        keep = measured[:, f]
        frame = pd.DataFrame({"feature": values[keep, f], "duration": durations[keep], "event": events[keep]})
        results.append(cox(frame, feature="feature", duration="duration", event="event"))
    return results


def logrank_two_groups(
    durations: np.ndarray, events: np.ndarray, first: np.ndarray, measured: np.ndarray
) -> np.ndarray:
    """Log-rank p of the samples in ``first`` vs the others, per column (samples x tests), among the ``measured``.

    lifelines' ``logrank_test``: at each distinct time, observed minus expected deaths of one group and the
    hypergeometric variance n1 n0 d (n - d) / (n^2 (n - 1)); the statistic (O - E)^2 / V, chi-square with 1 df (0
    when V is 0, as lifelines' pseudo-inverse).
    """
    if first.shape[1] == 0:
        return np.zeros(0)
    order, starts, dead = _by_time(durations, events)
    at = measured[order].astype(np.float64)
    in_first = (first & measured)[order].astype(np.float64)
    times = np.add.reduceat(dead.astype(np.float64), starts) > 0
    n, n1 = (np.cumsum(np.add.reduceat(a, starts, axis=0)[::-1], axis=0)[::-1][times] for a in (at, in_first))
    d, d1 = (np.add.reduceat(a * dead[:, None], starts, axis=0)[times] for a in (at, in_first))
    with np.errstate(all="ignore"):
        expected = np.where(n > 0, n1 * d / n, 0.0)
        factor = np.where(n > 1, (n - d) / (n - 1), 1.0) * np.where(n > 0, d / n**2, 0.0)
    z = (d1 - expected).sum(axis=0)
    v = (n1 * (n - n1) * factor).sum(axis=0)
    with np.errstate(all="ignore"):
        u = np.where(v != 0, z * z / v, 0.0)
    return stats.chi2.sf(u, 1)
