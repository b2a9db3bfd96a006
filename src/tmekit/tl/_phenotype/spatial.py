"""Spatial calls: a rule set applied to each sample's evidence (tiles of cells, or spots), with its confidence."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit import get, sp
from tmekit._constants import COMPARTMENT_KEY, CONTENT_KEY

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from anndata import AnnData

    from tmekit.tl._phenotype.rules import PhenotypeRule

__all__ = ["cell_calls", "ensure_compartments", "spot_calls"]

#: Compartment parameters that must agree for existing compartments to be reused by a call.
_REUSED_IF_EQUAL = ("mode", "cell_type_key", "tumor_labels", "library_key", "microns_per_unit", "content_key")


def ensure_compartments(adata: AnnData, *, overwrite: bool, **params: Any) -> None:
    """Compute the compartments a call needs, or reuse existing ones made with the same parameters."""
    stored = adata.uns.get(COMPARTMENT_KEY, {}).get("params") if COMPARTMENT_KEY in adata.obs else None
    if stored is not None:
        wanted = {
            "mode": "spots" if params.get("mode") == "spots" else "cells",
            "cell_type_key": params.get("cell_type_key"),
            "tumor_labels": _as_list(params.get("tumor_labels")),
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
    sp.compartments(adata, overwrite=True, **{k: v for k, v in params.items() if v is not None or k == "library_key"})


def _as_list(value: Sequence[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


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


def _confidence(
    rows: pd.DataFrame,
    metrics: Callable[[pd.DataFrame], pd.DataFrame],
    rule: PhenotypeRule,
    limits: Mapping[str, float],
    call: str,
    *,
    gen: np.random.Generator,
    n_boot: int,
    measurement_cv: float,
) -> float:
    """Share of ``n_boot`` replicates of the sample's evidence that give ``call``.

    Each replicate resamples the rows (tiles or spots) with replacement and recomputes the metrics from the
    weighted sums (the sampling noise of the field), then multiplies the metrics the rule reads by one log-normal
    factor of median 1 and coefficient of variation ``measurement_cv`` (what sampling does not see: a cell-typing
    or sectioning error moves a sample's densities together). So the
    confidence is the probability, under that model, that the evidence falls on the same side of every
    threshold: about 0.5 at a threshold, approaching 1 only as the metrics move away from it by more than their
    uncertainty.
    """
    values = rows.drop(columns=[c for c in ("sample", "tile", "tile_um", "spot") if c in rows.columns])
    weights = gen.multinomial(len(values), np.full(len(values), 1 / len(values)), size=n_boot)
    boot = metrics(pd.DataFrame(weights @ values.to_numpy(float), columns=values.columns))
    factor = np.exp(gen.normal(0.0, np.sqrt(np.log1p(measurement_cv**2)), n_boot))  # one per replicate, median 1
    for column in rule.reads:
        if column in boot.columns:
            boot[column] = boot[column].to_numpy(float) * factor
    return float(np.mean(rule.decide(boot, limits) == call))


def _row(name: str, verdict: tuple[str, float, str], rule: PhenotypeRule, limits: Mapping[str, float],
         evidence: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    call, confidence, reason = verdict
    return {
        "sample": name, "phenotype": call, "confidence": confidence, "rules": rule.name, "mode": "spatial",
        "inferred": False, "reason": reason, **{f"threshold_{k}": v for k, v in limits.items()}, **evidence,
    }  # fmt: skip


def _apply(
    rule: PhenotypeRule,
    limits: Mapping[str, float],
    point: pd.DataFrame,
    rows: pd.DataFrame,
    *,
    metrics: Callable[[pd.DataFrame], pd.DataFrame],
    floor: Callable[[Mapping[str, Any]], str],
    rng: np.random.Generator | int | None,
    n_boot: int,
    measurement_cv: float,
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One table row per sample: the rule on its metrics (``point``) unless ``floor`` finds the evidence too thin.

    The confidence comes from resampling the sample's ``rows`` (tiles or spots).
    """
    out = []
    for name in point.index:
        values = {**point.loc[name].to_dict(), **(extra.loc[name].to_dict() if extra is not None else {})}
        call = str(rule.decide(point.loc[[name]], limits)[0])
        missing = f"a metric {list(rule.reads)} could not be computed" if call == "indeterminate" else ""
        reason = floor(values) or missing
        if reason:
            call, confidence = "indeterminate", 0.0
        else:
            own = rows[rows["sample"] == name]
            confidence = _confidence(own, metrics, rule, limits, call, gen=sample_generator(rng, name),
                                     n_boot=n_boot, measurement_cv=measurement_cv)  # fmt: skip
        out.append(_row(name, (call, confidence, reason), rule, limits, values))
    return pd.DataFrame(out).set_index("sample")


def cell_calls(
    adata: AnnData,
    *,
    rule: PhenotypeRule,
    limits: Mapping[str, float],
    labels: Mapping[str, Any],
    cell_type_key: str,
    library_key: str | None,
    spatial_key: str,
    microns_per_unit: float | None,
    min_tumor_cells: int,
    min_tumor_area: float,
    contacts: str,
    contact_distance: float | None,
    n_boot: int,
    rng: np.random.Generator | int | None,
    measurement_cv: float = MEASUREMENT_CV,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Single cells: the rule on each sample's infiltration metrics; confidence from resampled tiles."""
    where = {"cell_type_key": cell_type_key, "library_key": library_key, "spatial_key": spatial_key,
             "microns_per_unit": microns_per_unit, "tumor_labels": labels["tumor"], "immune_labels": labels["immune"],
             "cd8_labels": labels["cd8"], "t_labels": labels["t"], "contacts": contacts,
             "contact_distance": contact_distance}  # fmt: skip
    tiles = sp.tile_table(adata, **where)
    point = sp.infiltration(adata, **where, tiles=tiles)

    def floor(values: Mapping[str, Any]) -> str:
        if values["n_tumor"] < min_tumor_cells:
            return f"only {int(values['n_tumor'])} tumour cells (< min_tumor_cells={min_tumor_cells})"
        if not values["has_tumor_region"] or values["area_core_mm2"] + values["area_margin_mm2"] < min_tumor_area:
            return f"tumour region smaller than min_tumor_area={min_tumor_area} mm^2"
        return ""

    table = _apply(rule, limits, point, tiles, metrics=sp.tile_metrics, floor=floor, rng=rng, n_boot=n_boot,
                   measurement_cv=measurement_cv)  # fmt: skip
    params = {"min_tumor_cells": int(min_tumor_cells), "min_tumor_area": float(min_tumor_area),
              "contacts": contacts, "measurement_cv": float(measurement_cv),
              "confidence": "resampled tiles x log-normal measurement factor, seeded per sample"}  # fmt: skip
    return table, params


def spot_calls(
    adata: AnnData,
    *,
    rule: PhenotypeRule,
    limits: Mapping[str, float],
    labels: Mapping[str, Any],
    library_key: str | None,
    min_tumor_spots: int,
    n_boot: int,
    rng: np.random.Generator | int | None,
    measurement_cv: float = MEASUREMENT_CV,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Spot data: the rule on each sample's mean group fractions per compartment; confidence from resampled spots."""
    spots = sp.spot_table(
        adata, tumor_labels=labels["tumor"], immune_labels=labels["immune"], cd8_labels=labels["cd8"],
        t_labels=labels["t"], library_key=library_key, content_key=CONTENT_KEY,
    )  # fmt: skip
    point = sp.spot_metrics(spots)
    regions = get.compartments(adata)  # per sample: spots, tumour spots, areas, margin half-width

    def floor(values: Mapping[str, Any]) -> str:
        n_tumour = int(values.get("n_tumor_spots", 0))
        short = n_tumour < min_tumor_spots
        return f"only {n_tumour} tumour spots (< min_tumor_spots={min_tumor_spots})" if short else ""

    table = _apply(rule, limits, point, spots, metrics=sp.spot_metrics, floor=floor, rng=rng, n_boot=n_boot,
                   measurement_cv=measurement_cv, extra=regions)  # fmt: skip
    table.insert(table.columns.get_loc("inferred"), "data", "spots")
    params = {"data": "spots", "min_tumor_spots": int(min_tumor_spots), "content_key": CONTENT_KEY,
              "measurement_cv": float(measurement_cv),
              "confidence": "resampled spots x log-normal measurement factor, seeded per sample"}  # fmt: skip
    return table, params
