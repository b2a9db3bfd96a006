"""A cohort's feature table: one row per sample (or patient) from the tables tmekit stored.

:func:`tmekit.get.cohort_features` reads the stored tables (with ``tk.get``'s accessors) and hands them here:
which sample each observation belongs to, the per-sample columns under stable names, and the aggregation of
several samples (images, cores, regions) of one patient into one row. Nothing here reads ``adata.uns`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

__all__ = [
    "AGGREGATES",
    "CATEGORICAL_RULE",
    "MIXED",
    "NUMERIC_RULE",
    "WEIGHTS",
    "aggregate_patients",
    "library_keys",
    "observation_samples",
    "patients_of",
    "per_sample_columns",
    "sample_weights",
]

#: How a patient's samples are weighted in the mean of a numeric feature.
WEIGHTS = ("cells", "equal", "area")
#: How the cells' signature scores of one sample become the sample's score.
AGGREGATES = ("mean", "median")
#: A patient whose samples' calls tie for the most frequent.
MIXED = "mixed"
NUMERIC_RULE = (
    "weighted mean over the patient's samples where the feature is measured (weights renormalised over them; "
    "NaN when none is)"
)
CATEGORICAL_RULE = (
    "the most frequent value among the patient's samples, 'indeterminate' and NaN left out (every sample "
    "indeterminate: 'indeterminate'; none measured: NaN); a tie for the most frequent: 'mixed'"
)
#: Evidence columns that are parameters of the call, not measurements of the sample.
PARAMETER_EVIDENCE = ("contact_distance_um", "tile_um", "margin_halfwidth_um")
#: Evidence columns that explain a NaN rather than measure anything.
NOTE_EVIDENCE = ("pdl1_not_measured",)
#: T-cell state table columns kept beside the ``frac_<state>`` shares.
TCELL_EXTRAS = ("progenitor_terminal_ratio", "memory_exhausted_ratio", "hypoxia_tumor")
INDETERMINATE = "indeterminate"


def observation_samples(
    adata: AnnData,
    *,
    library_key: str | None,
    recorded: Mapping[str, str],
    per_observation: bool,
) -> tuple[np.ndarray, str | None]:
    """Each observation's sample name (str) and the key it came from.

    ``recorded``: the ``library_key`` each stored result was computed with (``""`` = none), by where it is stored.
    ``per_observation``: the stored phenotype table has one row per observation (bulk or pseudobulk calls).
    """
    keys = dict(recorded)
    named = sorted({k for k in keys.values() if k})
    if len(set(keys.values())) > 1:
        listing = ", ".join(f"{where}: {key or None!r}" for where, key in keys.items())
        msg = (
            f"The stored results were computed per different samples ({listing}): one sample column is needed to "
            "join them. Re-run the odd one out with the same `library_key=`."
        )
        raise ValueError(msg)
    if library_key is not None and keys and (named != [library_key]):
        listing = ", ".join(f"{where}: {key or None!r}" for where, key in keys.items())
        bulk = " They have one row per observation (bulk calls): leave `library_key` out." if per_observation else ""
        msg = (
            f"`library_key={library_key!r}` but the stored results were computed with another ({listing}): their "
            "per-sample rows cannot be joined to these samples. Pass the key they used, or re-run them with "
            f"`library_key={library_key!r}`.{bulk}"
        )
        raise ValueError(msg)
    key = library_key if library_key is not None else (named[0] if named else None)
    if key is not None:
        if key not in adata.obs:
            msg = f"`adata.obs[{key!r}]` not found. Pass `library_key=` naming the obs column of samples."
            raise KeyError(msg)
        column = adata.obs[key]
        if column.isna().any():
            msg = (
                f"{int(column.isna().sum()):,} observations have no sample in `obs[{key!r}]` (NaN). Give them a "
                f"sample id or remove them: `adata = adata[adata.obs[{key!r}].notna()].copy()`."
            )
            raise ValueError(msg)
        return column.astype(str).to_numpy(), key
    if per_observation:
        return adata.obs_names.astype(str).to_numpy(), None
    if not keys:
        msg = (
            "No stored result names the samples: pass `library_key=` naming the obs column of samples (for bulk or "
            "pseudobulk data, a column with one value per observation)."
        )
        raise ValueError(msg)
    return np.full(adata.n_obs, "all", dtype=object), None


def _check_rows(table: pd.DataFrame, samples: pd.Index, where: str, key: str | None) -> pd.DataFrame:
    index = table.index.astype(str)
    extra, missing = sorted(set(index) - set(samples)), [s for s in samples if s not in set(index)]
    if extra or missing:
        column = f"`obs[{key!r}]`" if key else "the object"
        msg = (
            f"{where} has rows for samples {extra[:5]} that no observation of {column} carries, and none for "
            f"{missing[:5]}: the object changed after it was computed (subset or renamed?). Re-run it on this object."
        )
        raise ValueError(msg)
    out = table.copy()
    out.index = index
    return out.reindex(samples)


def _as_feature(values: pd.Series) -> pd.Series:
    """Numbers as float (booleans as 0/1, so a share of samples after aggregation), words as they are."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype(np.float64)
    return values


def per_sample_columns(
    *,
    samples: pd.Index,
    key: str | None,
    sample_of: np.ndarray,
    scores: pd.DataFrame | None,
    signatures_aggregate: str,
    phenotypes: tuple[pd.DataFrame, Mapping[str, Sequence[str]], str] | None,
    evidence: pd.DataFrame | None,
    tcell_states: pd.DataFrame | None,
    compartments: pd.DataFrame | None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The per-sample feature table (index ``samples``) and the columns' sources (prefix -> what was read).

    ``phenotypes``: the stored phenotype table, the classes of each rule set (first: ``phenotype``) and where it
    is stored.
    """
    columns: dict[str, pd.Series] = {}
    sources: dict[str, str] = {}
    if scores is not None:
        grouped = scores.astype(np.float64).groupby(pd.Index(sample_of, name="sample"), sort=False)
        summary = grouped.median() if signatures_aggregate == "median" else grouped.mean()
        summary = summary.reindex(samples)
        columns |= {f"score:{name}": summary[name] for name in summary.columns}
        sources["score"] = f"{signatures_aggregate} of the cells' scores per sample"
    if phenotypes is not None:
        table, calls, where = phenotypes
        table = _check_rows(table, samples, where, key)
        for k, (rule, classes) in enumerate(calls.items()):
            own = f"phenotype_{rule}" in table
            call, confidence = (f"phenotype_{rule}", f"confidence_{rule}") if own else ("phenotype", "confidence")
            if not own and k > 0:
                continue
            values = table[call].astype(object).where(table[call].notna(), np.nan)
            columns[f"phenotype:{rule}"] = pd.Series(pd.Categorical(values, categories=list(classes)), index=samples)
            if confidence in table:
                columns[f"confidence:{rule}"] = table[confidence].astype(np.float64)
        sources["phenotype"] = sources["confidence"] = where
    if evidence is not None:
        evidence = _check_rows(evidence, samples, "the phenotype table", key)
        skip = set(PARAMETER_EVIDENCE) | set(NOTE_EVIDENCE)
        for name in evidence.columns:
            if name not in skip and not name.startswith("threshold_"):
                columns[f"evidence:{name}"] = _as_feature(evidence[name])
        sources["evidence"] = "the metrics behind the calls (thresholds and parameters left out)"
    if tcell_states is not None:
        table = _check_rows(tcell_states, samples, "the T-cell state table", key)
        for name in table.columns:
            if name.startswith("frac_"):
                columns[f"tcell_state:{name.removeprefix('frac_')}"] = table[name].astype(np.float64)
            elif name in TCELL_EXTRAS:
                columns[f"tcell_state:{name}"] = table[name].astype(np.float64)
        sources["tcell_state"] = "shares of the CD8 T cells (frac_*), ratios and tumour hypoxia"
    if compartments is not None:
        table = _check_rows(compartments, samples, "the compartment table", key)
        areas = [c for c in ("tumor_area_mm2", "core_area_mm2", "margin_area_mm2", "stroma_area_mm2") if c in table]
        for name in areas:
            columns[f"compartment_area:{name.removesuffix('_area_mm2')}"] = table[name].astype(np.float64)
        if {"core_area_mm2", "margin_area_mm2", "stroma_area_mm2"} <= set(areas):
            parts = table[["core_area_mm2", "margin_area_mm2", "stroma_area_mm2"]].astype(np.float64)
            columns["compartment_area:tissue"] = parts.sum(axis=1, min_count=3)
        sources["compartment_area"] = "mm^2 per compartment; tissue = core + margin + stroma"
    out = pd.DataFrame({"n_samples": pd.Series(1, index=samples, dtype=np.int64), **columns}, index=samples)
    return out, sources


def _vote(values: Sequence[object]) -> object:
    """The patient's value of a categorical feature (:data:`CATEGORICAL_RULE`)."""
    present = [v for v in values if not pd.isna(v)]
    if not present:
        return np.nan
    called = [v for v in present if v != INDETERMINATE]
    if not called:
        return INDETERMINATE
    counts = pd.Series(called, dtype=object).value_counts(sort=False)
    top = counts[counts == counts.max()]
    return top.index[0] if len(top) == 1 else MIXED


def aggregate_patients(features: pd.DataFrame, patient_of: pd.Series, weights: pd.Series) -> pd.DataFrame:
    """One row per patient (in order of first appearance) from per-sample ``features``.

    Numeric columns: :data:`NUMERIC_RULE` with ``weights`` (one per sample); categorical ones: :data:`CATEGORICAL_RULE`;
    ``n_samples``: the patient's samples.
    """
    codes, patients = pd.factorize(patient_of.to_numpy())
    n_patients = len(patients)
    w = weights.to_numpy(dtype=np.float64)
    out: dict[str, object] = {"n_samples": np.bincount(codes, minlength=n_patients).astype(np.int64)}
    for name in features.columns:
        if name == "n_samples":
            continue
        column = features[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(column):
            values = column.astype(object).to_numpy()
            voted = [_vote(values[codes == k]) for k in range(n_patients)]
            if isinstance(column.dtype, pd.CategoricalDtype):
                categories = list(column.cat.categories) + [MIXED] * (MIXED not in column.cat.categories)
                out[name] = pd.Categorical(voted, categories=categories)
            else:
                out[name] = np.asarray(voted, dtype=object)
            continue
        values = column.to_numpy(dtype=np.float64)
        measured = np.isfinite(values)
        total = np.bincount(codes, weights=np.where(measured, w, 0.0), minlength=n_patients)
        summed = np.bincount(codes, weights=np.where(measured, w * np.where(measured, values, 0.0), 0.0),
                             minlength=n_patients)  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(total > 0, summed / np.where(total > 0, total, 1.0), np.nan)
    return pd.DataFrame(out, index=pd.Index(patients.astype(str), name=patient_of.name))


def library_keys(adata: AnnData, keys: dict[str, str]) -> dict[str, str]:
    """The ``library_key`` each stored per-sample result was computed with (``""``: none), by where it is."""
    return {f"`adata.uns[{key!r}]`": str(adata.uns[key].get("params", {}).get("library_key", "") or "")
            for key in keys.values() if key in adata.uns}  # fmt: skip


def sample_weights(adata: AnnData, weight: str, sample_of: np.ndarray, features: pd.DataFrame) -> pd.Series:
    samples = features.index
    if weight == "equal":
        return pd.Series(1.0, index=samples)
    if weight == "cells":
        return pd.Series(sample_of).value_counts().reindex(samples).astype(np.float64)
    if "compartment_area:tissue" not in features:
        msg = (
            "`weight='area'` weighs each sample by its tissue area (core + margin + stroma, mm^2), which "
            "`tk.sp.compartments` (or `tk.tl.classify`) stores: run it first, or pass `weight='cells'` or 'equal'."
        )
        raise ValueError(msg)
    return features["compartment_area:tissue"].fillna(0.0)


def patients_of(adata: AnnData, patient_key: str, sample_of: np.ndarray, samples: pd.Index) -> pd.Series:
    if patient_key not in adata.obs:
        msg = f"`adata.obs[{patient_key!r}]` not found. Pass `patient_key=` naming the obs column of patients, or None."
        raise KeyError(msg)
    column = adata.obs[patient_key]
    if column.isna().any():
        msg = (f"{int(column.isna().sum()):,} observations have no patient in `obs[{patient_key!r}]` (NaN): give them "
               "one or remove them.")  # fmt: skip
        raise ValueError(msg)
    pairs = pd.DataFrame({"sample": sample_of, "patient": column.astype(str).to_numpy()}).drop_duplicates()
    several = pairs[pairs["sample"].duplicated(keep=False)]
    if len(several):
        first = str(several["sample"].iloc[0])
        both = sorted(several.loc[several["sample"] == first, "patient"])
        msg = (
            f"Sample {first!r} maps to {len(both)} patients in `obs[{patient_key!r}]` ({both}); "
            f"{several['sample'].nunique()} sample(s) do. A sample belongs to one patient: fix `obs[{patient_key!r}]` "
            "(or the sample column) so that cells of different patients never share a sample."
        )
        raise ValueError(msg)
    return pairs.set_index("sample")["patient"].reindex(samples).rename(patient_key)
