"""Spatial calls: a rule set applied to each sample's evidence (tiles of cells, or spots), with its confidence."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit import get, sp
from tmekit._constants import COMPARTMENT_KEY, CONTENT_KEY
from tmekit._progress import advance
from tmekit.tl._phenotype.rules import combine

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from anndata import AnnData

    from tmekit._roles import Roles
    from tmekit.tl._phenotype.rules import PhenotypeRule

__all__ = ["cell_calls", "ensure_compartments", "spot_calls"]

#: Compartment parameters that must agree for existing compartments to be reused by a call.
_REUSED_IF_EQUAL = ("mode", "cell_type_key", "tumor_labels", "library_key", "microns_per_unit", "content_key")


def ensure_compartments(adata: AnnData, *, overwrite: bool, cell_types: Roles, **params: Any) -> None:
    """Compute the compartments a call needs, or reuse existing ones made with the same parameters."""
    stored = adata.uns.get(COMPARTMENT_KEY, {}).get("params") if COMPARTMENT_KEY in adata.obs else None
    if stored is not None:
        wanted = {
            "mode": "spots" if params.get("mode") == "spots" else "cells",
            "cell_type_key": cell_types.key,
            "tumor_labels": cell_types.tumor or None,
            "library_key": params.get("library_key") or "",
            "microns_per_unit": params.get("microns_per_unit"),
            "content_key": params.get("content_key"),
        }
        differ = {
            k: (stored.get(k), v)
            for k, v in wanted.items()
            if v is not None and k in stored and not _same(stored.get(k), v)
        }
        if not differ:
            return
        if not overwrite:
            detail = "; ".join(f"{k}: stored {a!r}, asked {b!r}" for k, (a, b) in differ.items())
            msg = (
                f"`adata.obs[{COMPARTMENT_KEY!r}]` was made with other parameters ({detail}). Pass `overwrite=True` "
                "to recompute the compartments for this call, or the parameters they were made with."
            )
            raise ValueError(msg)
    params = {k: v for k, v in params.items() if v is not None or k == "library_key"}
    sp.compartments(adata, overwrite=True, cell_types=cell_types.stored(), **params)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return bool(np.isclose(a, b))
    return list(a) == list(b) if isinstance(a, list | tuple | np.ndarray) else a == b


#: Relative uncertainty of a measured density or fraction beyond the sampling of cells in the field: cell typing,
#: segmentation and section-to-section variation. CD8 densities of deeper sections of the same tissue-microarray
#: spot correlate only r = 0.79 (Mod Pathol 2018, doi:10.1038/s41379-018-0083-x): tens of percent. 25% is taken.
MEASUREMENT_CV = 0.25


def sample_generator(rng: np.random.Generator | int | None, name: str) -> np.random.Generator:
    """A generator of the sample's own: from the call's seed and the sample's name, nothing else.

    So a sample's confidence does not change with the order of the cells or with the other samples in the object.
    """
    base = int(rng.integers(2**62)) if isinstance(rng, np.random.Generator) else (0 if rng is None else int(rng))
    return np.random.default_rng([base, int(hashlib.sha256(str(name).encode()).hexdigest()[:15], 16)])


@dataclass
class _Evidence:
    """One sample's evidence rows and their metrics, and the resampled replicates every rule set's confidence reads.

    The replicates are drawn once per sample (seeded by :func:`sample_generator`) and shared by all rule sets of
    the call: each replicate resamples the rows (tiles or spots) with replacement (the sampling noise of the
    field) and carries one log-normal factor of median 1 and coefficient of variation ``measurement_cv`` (what
    sampling does not see: a cell-typing or sectioning error moves a sample's densities together).
    """

    values: pd.DataFrame
    metrics: Callable[[pd.DataFrame], pd.DataFrame]
    gen: np.random.Generator
    n_boot: int
    measurement_cv: float
    _replicates: tuple[np.ndarray, np.ndarray, pd.DataFrame] | None = None

    def _of(self, weights: np.ndarray) -> pd.DataFrame:
        return self.metrics(pd.DataFrame(weights @ self.values.to_numpy(float), columns=self.values.columns))

    def point(self) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """The sample itself: weights of one, factor one, its metrics."""
        ones = np.ones((1, len(self.values)))
        return ones, np.ones(1), self._of(ones)

    def replicates(self) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """``n_boot`` resampling weights, measurement factors and the metrics of the resampled sums."""
        if self._replicates is None:
            n = len(self.values)
            weights = self.gen.multinomial(n, np.full(n, 1 / n), size=self.n_boot)
            factor = np.exp(self.gen.normal(0.0, np.sqrt(np.log1p(self.measurement_cv**2)), self.n_boot))
            self._replicates = weights, factor, self._of(weights)
        return self._replicates


def _evaluate(
    rule: PhenotypeRule,
    evidence: _Evidence,
    draw: tuple[np.ndarray, np.ndarray, pd.DataFrame],
    *,
    limits: Mapping[str, float],
    context: Mapping[str, Any],
) -> pd.DataFrame:
    """The rule's metrics per replicate of ``draw`` (weights, factors, the shared metrics).

    The metrics it reads are scaled by the replicate's factor; then the rule derives what it needs (its ``derive``
    sees the rows, weights and factors too, for tile-level decisions).
    """
    weights, factor, shared = draw
    out = shared.copy()
    for column in rule.reads:
        if column in out.columns:
            out[column] = out[column].to_numpy(float) * factor
    if rule.derive is not None:
        derived = rule.derive(out, rows=evidence.values, weights=weights, factor=factor, thresholds=limits,
                              context=context)  # fmt: skip
        out = out.assign(**{c: derived[c].to_numpy() for c in derived.columns})
    return out


def _row(name: str, verdict: tuple[str, float, str], rule: PhenotypeRule, limits: Mapping[str, float],
         evidence: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    call, confidence, reason = verdict
    alias = {"alias": rule.aliases.get(call, "")} if rule.aliases else {}
    return {
        "sample": name, "phenotype": call, "confidence": confidence, **alias, "rules": rule.name, "mode": "spatial",
        "inferred": False, "reason": reason, **{f"threshold_{k}": v for k, v in limits.items()}, **evidence,
    }  # fmt: skip


def _missing(rule: PhenotypeRule, values: Mapping[str, Any]) -> str:
    """Why a rule could not decide: the metrics it reads that are missing, with the rule's hint for each."""
    gone = [c for c in rule.reads if c in values and not np.isfinite(float(values[c]))]
    if not gone:  # the metrics are there: a derived one is missing (a hint says why)
        gone = [c for c in rule.hints if c not in rule.reads and c in values and not np.isfinite(float(values[c]))]
    if not gone:
        return f"a metric {list(rule.reads)} could not be computed"
    # the PD-L1 figures carry their own reason (``pdl1_not_measured``: "<figure>, <figure>: <reason>; ...")
    clauses = [part.split(": ", 1) for part in str(values.get("pdl1_not_measured") or "").split("; ") if ": " in part]
    measured = {fig: why for figs, why in clauses for fig in figs.split(", ")}
    return "; ".join(measured.get(c) or rule.hints.get(c, f"{c} could not be computed") for c in gone)


def _apply(
    rule: PhenotypeRule,
    limits: Mapping[str, float],
    samples: Mapping[str, _Evidence],
    *,
    floor: Callable[[Mapping[str, Any]], str],
    context: Mapping[str, Any],
    extra: pd.DataFrame | None,
) -> pd.DataFrame:
    """One table row per sample: the rule on its metrics unless ``floor`` finds the evidence too thin.

    Confidence: the share of the sample's replicates that give the same call (about 0.5 at a threshold, near 1
    only when the metrics are further from it than their uncertainty). ``extra``: per-sample values beside the
    metrics (regions, distances).
    """
    out = []
    for k, (name, evidence) in enumerate(samples.items()):
        advance(f"{rule.name}: confidence (samples)", k, len(samples))
        point = _evaluate(rule, evidence, evidence.point(), limits=limits, context=context)
        values = {**(extra.loc[name].to_dict() if extra is not None else {}), **point.iloc[0].to_dict()}
        call = str(rule.decide(point, limits)[0])
        reason = floor(values) or (_missing(rule, values) if call == "indeterminate" else "")
        if reason:
            call, confidence = "indeterminate", 0.0
        else:
            boot = _evaluate(rule, evidence, evidence.replicates(), limits=limits, context=context)
            confidence = float(np.mean(rule.decide(boot, limits) == call))
        out.append(_row(name, (call, confidence, reason), rule, limits, values))
    advance(f"{rule.name}: confidence (samples)", len(samples), len(samples))
    return pd.DataFrame(out).set_index("sample")


def _limits(rule: PhenotypeRule, overrides: Mapping[str, float]) -> dict[str, float]:
    return {**rule.thresholds, **{k: float(v) for k, v in overrides.items() if k in rule.thresholds}}


def _tables(
    rules: Sequence[PhenotypeRule],
    overrides: Mapping[str, float],
    rows: pd.DataFrame,
    *,
    metrics: Callable[[pd.DataFrame], pd.DataFrame],
    floor: Callable[[Mapping[str, Any]], str],
    rng: np.random.Generator | int | None,
    n_boot: int,
    measurement_cv: float,
    context: Mapping[str, Any] | None = None,
    extra: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Each rule set on the same evidence: one table (:func:`combine`) and each rule set's parameters.

    One set of replicates per sample, drawn once and read by every rule set.
    """
    labels = [c for c in sp.ROW_LABELS if c in rows.columns]
    samples = {
        name: _Evidence(rows[rows["sample"] == name].drop(columns=labels), metrics, sample_generator(rng, name),
                        n_boot, measurement_cv)
        for name in pd.unique(rows["sample"])
    }  # fmt: skip
    context = dict(context or {})
    if "cohort" in context:  # the samples' own point metrics, so that a sample ties with itself to the last digit
        context["cohort"] = pd.concat([ev.point()[2].set_axis([name]) for name, ev in samples.items()])
    tables = {rule.name: _apply(rule, _limits(rule, overrides), samples, floor=floor, context=context,
                                extra=extra) for rule in rules}  # fmt: skip
    frameworks = {rule.name: {"classes": list(rule.classes), "description": rule.description, "source": rule.source,
                              "thresholds": _limits(rule, overrides),
                              "aliases": [f"{k} = {v}" for k, v in rule.aliases.items()]}
                  for rule in rules}  # fmt: skip
    return combine(tables), frameworks


def cell_calls(
    adata: AnnData,
    *,
    rules: Sequence[PhenotypeRule],
    overrides: Mapping[str, float],
    cell_types: Roles,
    library_key: str | None,
    spatial_key: str,
    microns_per_unit: float | None,
    min_tumor_cells: int,
    min_tumor_area: float,
    contacts: str | None,
    contact_distance: float | None,
    n_boot: int,
    rng: np.random.Generator | int | None,
    measurement_cv: float = MEASUREMENT_CV,
    percentile_reference: pd.DataFrame | None = None,
    cohort_relative: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Single cells: each rule set on each sample's tile evidence; confidence from resampled tiles.

    The contact graph (the slowest part of the evidence on whole slides) is built only when a rule set reads a
    contact metric (``sp.CONTACT_METRICS``); otherwise those columns are NaN and ``contacts`` is "not computed".
    """
    if contacts not in sp.CONTACTS:
        msg = f"Unknown contacts={contacts!r}: use 'touching' (Delaunay neighbours, Keren 2018) or 'radius' (SPIAT)."
        raise ValueError(msg)
    if not any(set(rule.reads) & set(sp.CONTACT_METRICS) for rule in rules):
        contacts = None
    where = {"cell_types": cell_types.stored(), "library_key": library_key, "spatial_key": spatial_key,
             "microns_per_unit": microns_per_unit, "contacts": contacts,
             "contact_distance": contact_distance}  # fmt: skip
    tiles = sp.tile_table(adata, **where)
    shared = sp.infiltration(adata, **where, tiles=tiles)

    def floor(values: Mapping[str, Any]) -> str:
        if values.get("no_area"):
            return str(values["no_area"])
        if values["n_tumor"] < min_tumor_cells:
            return f"only {int(values['n_tumor'])} tumour cells (< min_tumor_cells={min_tumor_cells})"
        if not values["has_tumor_region"] or values["area_core_mm2"] + values["area_margin_mm2"] < min_tumor_area:
            return f"tumour region smaller than min_tumor_area={min_tumor_area} mm^2"
        return ""

    context = {"percentile_reference": percentile_reference, "cohort_relative": cohort_relative, "cohort": shared}
    table, frameworks = _tables(rules, overrides, tiles, metrics=sp.tile_metrics, floor=floor, rng=rng,
                                n_boot=n_boot, measurement_cv=measurement_cv, context=context,
                                extra=shared)  # fmt: skip
    labelled = {f"{k}_labels": list(v or []) for k, v in cell_types.labels().items()}
    cell_type_key, pdl1_threshold = cell_types.key, cell_types.pdl1_threshold
    pdl1_key = "" if cell_types.pdl1_labels is not None else cell_types.pdl1
    pdl1 = ({"pdl1_labels": list(cell_types.pdl1_labels or []), "cell_area": str(tiles.attrs.get("cell_area", ""))}
            if cell_types.pdl1 is not None else {})  # fmt: skip
    params = {"min_tumor_cells": int(min_tumor_cells), "min_tumor_area": float(min_tumor_area),
              "cell_type_key": cell_type_key, **labelled, "spatial_key": spatial_key,
              "microns_per_unit": np.nan if microns_per_unit is None else float(microns_per_unit),
              "contacts": contacts or "not computed", "measurement_cv": float(measurement_cv),
              "frameworks": frameworks,
              "pdl1_key": pdl1_key or "", **pdl1,
              "pdl1_threshold": np.nan if pdl1_threshold is None else float(pdl1_threshold),
              "cohort_relative": bool(cohort_relative),
              "confidence": "resampled tiles x log-normal measurement factor, seeded per sample"}  # fmt: skip
    return table, params


def spot_calls(
    adata: AnnData,
    *,
    rules: Sequence[PhenotypeRule],
    overrides: Mapping[str, float],
    labels: Mapping[str, Any],
    library_key: str | None,
    min_tumor_spots: int,
    n_boot: int,
    rng: np.random.Generator | int | None,
    measurement_cv: float = MEASUREMENT_CV,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Spot data: each rule set on each sample's mean group fractions per compartment; confidence: resampled spots."""
    groups = {k: v for k, v in labels.items() if v}
    spots = sp.spot_table(adata, cell_types=groups, library_key=library_key, content_key=CONTENT_KEY)
    regions = get.compartments(adata)  # per sample: spots, tumour spots, areas, margin half-width

    def floor(values: Mapping[str, Any]) -> str:
        n_tumour = int(values.get("n_tumor_spots", 0))
        short = n_tumour < min_tumor_spots
        return f"only {n_tumour} tumour spots (< min_tumor_spots={min_tumor_spots})" if short else ""

    table, frameworks = _tables(rules, overrides, spots, metrics=sp.spot_metrics, floor=floor, rng=rng,
                                n_boot=n_boot, measurement_cv=measurement_cv, extra=regions)  # fmt: skip
    table.insert(table.columns.get_loc("inferred"), "data", "spots")
    params = {"data": "spots", "min_tumor_spots": int(min_tumor_spots), "content_key": CONTENT_KEY,
              "measurement_cv": float(measurement_cv), "frameworks": frameworks,
              "confidence": "resampled spots x log-normal measurement factor, seeded per sample"}  # fmt: skip
    return table, params
