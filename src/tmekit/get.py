"""`tk.get`: tmekit's results read back as tables. Queries: they never change the object.

Writers (``tk.tl.score``, ``tk.tl.classify``, ``tk.sp.compartments``, ...) store results in ``obsm`` / ``uns``;
these accessors are how the report, the command line and users read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit import _cohort
from tmekit._constants import (
    ASSOCIATION_KEY,
    COMPARTMENT_KEY,
    CONTENT_KEY,
    PHENOTYPE_CALLS,
    PHENOTYPE_KEY,
    SCORES_KEY,
    TCELL_STATES_KEY,
)
from tmekit._spatialdata import accepts_spatialdata

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "associations",
    "cohort_features",
    "compartments",
    "evidence",
    "phenotype_params",
    "phenotypes",
    "response_rates",
    "scores",
    "signatures_scored",
    "spot_content",
    "tcell_states",
]

#: Columns of a phenotype table that describe the call rather than the evidence behind it.
CALL_COLUMNS = ("phenotype", "confidence", "rules", "model", "mode", "inferred", "reason", "data", "species",
                "input_scale", "cohort_relative")  # fmt: skip


def _stored(adata: AnnData, slot: str, key: str, writer: str) -> Any:
    mapping = getattr(adata, slot)
    if key not in mapping:
        msg = f"`adata.{slot}[{key!r}]` not found: run `{writer}` first (or pass `key=` naming where it wrote)."
        raise KeyError(msg)
    return mapping[key]


@accepts_spatialdata
def scores(adata: AnnData, *, key: str = SCORES_KEY) -> pd.DataFrame:
    """Cells x signatures scores written by :func:`tmekit.tl.score` (a copy).

    Parameters
    ----------
    adata
        An object scored with :func:`tmekit.tl.score`.
    key
        Where the results were written (the writer's ``key_added``).

    Returns
    -------
    DataFrame, cells x signatures (float64).

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> tk.tl.score(adata, ["ifng6_ayers2017", "hypoxia_buffa2010"])
    >>> tk.get.scores(adata).shape
    (1564, 2)
    """
    value = _stored(adata, "obsm", key, "tk.tl.score(adata, signatures)")
    if not isinstance(value, pd.DataFrame):
        names = list(adata.uns.get(key, {}).get("signatures", {}))
        value = pd.DataFrame(np.asarray(value), index=adata.obs_names, columns=names or None)
    return value.copy()


@accepts_spatialdata
def signatures_scored(adata: AnnData, *, key: str = SCORES_KEY) -> pd.DataFrame:
    """One row per scored signature: genes found and missing, version, hash and citation (the provenance).

    Parameters
    ----------
    adata
        An object scored with :func:`tmekit.tl.score`.
    key
        Where the results were written (the writer's ``key_added``).

    Returns
    -------
    DataFrame indexed by ``signature``: ``n_genes``, ``n_found``, ``version``, ``citation``, ``doi``, ``pmid``,
    ``genes_missing`` and ``sha256``; ``attrs["method"]`` is the scoring method.

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> tk.tl.score(adata, "ifng6_ayers2017")
    >>> scored = tk.get.signatures_scored(adata)
    >>> int(scored.loc["ifng6_ayers2017", "n_found"]), scored.loc["ifng6_ayers2017", "doi"]
    (6, '10.1172/JCI91190')
    """
    info = _stored(adata, "uns", key, "tk.tl.score(adata, signatures)")
    rows = {}
    for name, entry in info.get("signatures", {}).items():
        rows[name] = {k: entry.get(k, "") for k in ("n_genes", "n_found", "version", "citation", "doi", "pmid")}
        rows[name]["genes_missing"] = list(entry.get("genes_missing", []))
        rows[name]["sha256"] = str(entry.get("sha256", ""))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "signature"
    table.attrs["method"] = info.get("method", "")
    return table


@accepts_spatialdata
def phenotypes(adata: AnnData, *, key: str = PHENOTYPE_KEY, rules: str | None = None) -> pd.DataFrame:
    """One row per sample from :func:`tmekit.tl.classify`: the call, its confidence, why, and the evidence.

    With several rule sets applied, ``phenotype`` / ``confidence`` / ``reason`` are the first one's and
    ``phenotype_<rule>`` ... each one's; ``rules=`` names the rule set whose call fills ``phenotype``,
    ``confidence``, ``reason`` (and ``alias``) instead, with ``rules`` set to it.

    Parameters
    ----------
    adata
        An object classified with :func:`tmekit.tl.classify` or :func:`tmekit.tl.classify_expression`.
    key
        Where the results were written (the writer's ``key_added``).
    rules
        The rule set whose call leads the table (default: the first applied).

    Returns
    -------
    DataFrame, one row per sample: ``phenotype`` (categorical), ``confidence``, ``reason``, the rule sets or model,
    each rule set's own call, the thresholds and every metric or feature the call read.

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, rules="cd8_density,keren2018", library_key="patient_id", microns_per_unit=800 / 2048)
    >>> tk.get.phenotypes(adata)[["phenotype", "confidence"]]
           phenotype  confidence
    sample
    1       inflamed       0.915
    2       inflamed       1.000
    3       excluded       0.870
    4       inflamed       0.915
    >>> tk.get.phenotypes(adata, rules="keren2018")["phenotype"].tolist()
    ['inflamed', 'inflamed', 'excluded', 'excluded']
    """
    result = _stored(adata, "uns", key, "tk.tl.classify(adata, ...)")
    table = result["table"].copy()
    calls = dict(result.get("params", {}).get("calls", {}))
    lead = next(iter(calls), "")
    if rules is not None:
        if rules not in calls or f"phenotype_{rules}" not in table:
            msg = f"Rule set {rules!r} was not applied here; the table has {[k for k in calls if k]}."
            raise KeyError(msg)
        own = {c: f"{c}_{rules}" for c in ("phenotype", "confidence", "reason", "alias") if f"{c}_{rules}" in table}
        table = table.drop(columns=[c for c in own if c in table]).rename(columns={v: k for k, v in own.items()})
        table["rules"], lead = rules, rules
    categories = list(calls.get(lead, PHENOTYPE_CALLS))
    table["phenotype"] = pd.Categorical(table["phenotype"].astype(str), categories=categories)
    return table


#: Evidence columns that are words: the SP142 band of the IC score and why a PD-L1 figure is not measured.
TEXT_EVIDENCE = ("ic_category", "pdl1_not_measured")


@accepts_spatialdata
def evidence(adata: AnnData, *, key: str = PHENOTYPE_KEY) -> pd.DataFrame:
    """The evidence behind each sample's call: metrics or features and the thresholds they met.

    Numeric columns, plus the PD-L1 words of a spatial call with PD-L1 (``ic_category``, the SP142 band, and
    ``pdl1_not_measured``, why a PD-L1 figure is NaN: ``"<figure>: <reason>; ..."``).

    Parameters
    ----------
    adata
        A classified object.
    key
        Where the results were written (the writer's ``key_added``).

    Returns
    -------
    The columns of :func:`phenotypes` that are evidence (no call, confidence or reason), one row per sample.

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, library_key="patient_id", microns_per_unit=800 / 2048)
    >>> tk.get.evidence(adata)["density_cd8_core"].round(1).tolist()  # CD8 T cells per mm^2 of tumour core
    [157.5, 282.1, 56.3, 162.6]
    """
    table = phenotypes(adata, key=key)
    own = tuple(f"{c}_" for c in ("phenotype", "confidence", "reason", "alias"))  # each rule set's own call
    keep = [c for c in table.columns if c not in CALL_COLUMNS and not c.startswith(own)
            and (pd.api.types.is_numeric_dtype(table[c]) or c in TEXT_EVIDENCE)]  # fmt: skip
    return table[keep]


@accepts_spatialdata
def phenotype_params(adata: AnnData, *, key: str = PHENOTYPE_KEY) -> pd.Series:
    """How the calls were made: mode, rule set or model (with its provenance), thresholds' sources, parameters.

    Parameters
    ----------
    adata
        A classified object.
    key
        Where the results were written (the writer's ``key_added``).

    Returns
    -------
    Series of the call's parameters (``mode``, ``rules``, ``description``, ``source``, the labels, units, ...).

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, library_key="patient_id", microns_per_unit=800 / 2048)
    >>> params = tk.get.phenotype_params(adata)
    >>> params["mode"], params["rules"]
    ('spatial', 'cd8_density')
    """
    result = _stored(adata, "uns", key, "tk.tl.classify(adata, ...)")
    return pd.Series(dict(result["params"]), dtype=object)


@accepts_spatialdata
def compartments(adata: AnnData, *, key: str = COMPARTMENT_KEY) -> pd.DataFrame:
    """One row per sample from :func:`tmekit.sp.compartments`: areas (mm^2), margin half-width, cells or spots.

    Parameters
    ----------
    adata
        An object after :func:`tmekit.sp.compartments` (or :func:`tmekit.tl.classify`).
    key
        Where the results were written (the writer's ``key_added``).

    Returns
    -------
    DataFrame indexed by ``sample``: ``margin_halfwidth_um``, grid ``pixel_um`` and ``bandwidth_um``, the tumour,
    core, margin and stroma areas (``*_area_mm2``), ``has_tumor_region``, ``n_nests``, cell counts.

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.sp.compartments(adata, library_key="patient_id", microns_per_unit=800 / 2048)
    >>> tk.get.compartments(adata)["margin_halfwidth_um"].round(1).tolist()
    [48.5, 48.5, 48.5, 48.5]
    """
    result = _stored(adata, "uns", key, "tk.sp.compartments(adata, ...)")
    scalar = (bool, int, float, str, np.number, np.bool_)
    rows = {n: {k: v for k, v in info.items() if isinstance(v, scalar)} for n, info in result["samples"].items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "sample"
    return table


@accepts_spatialdata
def spot_content(adata: AnnData, *, key: str = CONTENT_KEY) -> pd.DataFrame:
    """Spots x reference cell types: the fractions :func:`tmekit.sp.spot_content` estimated (a copy).

    Parameters
    ----------
    adata
        Spots after :func:`tmekit.sp.spot_content`.
    key
        Where the results were written (the writer's ``key_added``).

    Returns
    -------
    DataFrame, spots x reference types; each row sums to 1 (NaN for spots with no counts on the genes).

    Examples
    --------
    >>> spots = tk.datasets.synthetic_spots("inflamed", rng=0)
    >>> tk.sp.spot_content(spots)
    >>> bool(np.allclose(tk.get.spot_content(spots).sum(axis=1), 1.0))
    True
    """
    return pd.DataFrame(_stored(adata, "obsm", key, "tk.sp.spot_content(adata)")).copy()


@accepts_spatialdata
def tcell_states(adata: AnnData, *, key: str = TCELL_STATES_KEY) -> pd.DataFrame:
    """One row per sample from :func:`tmekit.tl.tcell_states`: CD8 counts, state shares, ratios, hypoxia, status.

    Parameters
    ----------
    adata
        An object after :func:`tmekit.tl.tcell_states`.
    key
        Where the results were written (the writer's ``key_added``).

    Returns
    -------
    DataFrame, one row per sample: ``n_cd8``, ``n_<state>`` and ``frac_<state>``, ``frac_cxcl13``,
    ``frac_cxcl13_ccr5``, ``progenitor_terminal_ratio``, ``memory_exhausted_ratio``, ``hypoxia_tumor``, ``status``.

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> tk.tl.annotate(adata)
    >>> tk.tl.tcell_states(adata, library_key="sample_id", min_cd8_cells=5)
    >>> tk.get.tcell_states(adata)["n_cd8"].tolist()
    [36]
    """
    result = _stored(adata, "uns", key, "tk.tl.tcell_states(adata, ...)")
    return result["table"].copy()


@accepts_spatialdata
def cohort_features(
    adata: AnnData,
    *,
    library_key: str | None = None,
    patient_key: str | None = None,
    weight: str = "cells",
    signatures_aggregate: str = "mean",
    scores_key: str = SCORES_KEY,
    phenotype_key: str = PHENOTYPE_KEY,
    tcell_states_key: str = TCELL_STATES_KEY,
    compartment_key: str = COMPARTMENT_KEY,
) -> pd.DataFrame:
    """One row per sample (or patient), one column per feature tmekit has stored: a cohort's table for association.

    Reads, when present: signature scores (:func:`tmekit.tl.score`), phenotype calls with their confidence and
    evidence (:func:`tmekit.tl.classify`, :func:`tmekit.tl.classify_expression`), T-cell states
    (:func:`tmekit.tl.tcell_states`) and compartment areas (:func:`tmekit.sp.compartments`). Results that were not
    computed are absent; values measured as NaN stay NaN. Never changes ``adata``.

    Columns (stable names, a prefix per source):

    - ``n_samples``: the samples behind the row (1 per sample; the patient's samples with ``patient_key``);
    - ``score:<signature>``: the mean (or median) of the sample's cells' scores;
    - ``phenotype:<rules>`` (categorical, the rule set's classes) and ``confidence:<rules>``, per rule set applied;
    - ``evidence:<metric>``: every metric behind the calls (densities, TPS/CPS/IC, mixing, distances, ...; the
      rule sets' ``threshold_*`` and the parameters ``contact_distance_um``, ``tile_um``, ``margin_halfwidth_um``
      left out; flags as 0/1);
    - ``tcell_state:<state>``: the share of the sample's CD8 T cells in each state (``frac_<state>``, including
      ``cxcl13`` and ``cxcl13_ccr5``), and ``progenitor_terminal_ratio``, ``memory_exhausted_ratio``,
      ``hypoxia_tumor``;
    - ``compartment_area:<compartment>``: mm^2 of tumour, core, margin, stroma and tissue (core + margin + stroma).

    **Patients.** With ``patient_key`` (e.g. five images per patient) each patient gets one row, from its samples
    only (cells are never pooled across patients, nor across samples): a numeric feature is the weighted mean over
    the patient's samples where it is measured (weights renormalised over those; NaN when none is); a categorical
    one (the phenotype) is the most frequent value among the patient's samples, ``indeterminate`` and NaN left out
    (all indeterminate: ``indeterminate``), and ``"mixed"`` when two values tie. The rules, weights and sources are
    recorded in ``.attrs``.

    Parameters
    ----------
    adata
        The annotated object the results were computed on.
    library_key
        ``obs`` column of samples. ``None``: the one the stored results were computed with (they must agree); bulk
        calls without one have a sample per observation. Required when only scores are stored.
    patient_key
        ``obs`` column of patients: aggregate each patient's samples to one row (index named ``patient_key``). A
        sample whose cells name two patients is refused.
    weight
        Weights of a patient's samples in numeric means: ``"cells"`` (observations per sample), ``"equal"``, or
        ``"area"`` (tissue area, core + margin + stroma, from the compartments).
    signatures_aggregate
        ``"mean"`` or ``"median"`` of the cells' scores per sample. For a score of the pseudobulk instead, score
        the :func:`tmekit.tl.aggregate` pseudobulk and read its ``obsm["tmekit_scores"]``.
    scores_key, phenotype_key, tcell_states_key, compartment_key
        Where each result is stored (the writers' ``key_added``).

    Returns
    -------
    DataFrame indexed by sample (named ``library_key``, or ``"sample"``) or by patient. ``.attrs``: ``level``
    (``"sample"`` / ``"patient"``), ``library_key``, ``patient_key``, ``weight``, ``signatures_aggregate``, the
    aggregation rules (``numeric``, ``categorical``) and ``sources``.

    Examples
    --------
    >>> import tmekit as tk
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, library_key="patient_id", microns_per_unit=800 / 2048, n_boot=20)
    >>> features = tk.get.cohort_features(adata)
    >>> features[["phenotype:cd8_density", "evidence:density_cd8_core"]].shape
    (4, 2)
    """
    if weight not in _cohort.WEIGHTS:
        msg = f"`weight` must be one of {list(_cohort.WEIGHTS)}, got {weight!r}."
        raise ValueError(msg)
    if signatures_aggregate not in _cohort.AGGREGATES:
        msg = f"`signatures_aggregate` must be one of {list(_cohort.AGGREGATES)}, got {signatures_aggregate!r}."
        raise ValueError(msg)
    stored = {"phenotype": phenotype_key, "tcell_states": tcell_states_key, "compartments": compartment_key}
    recorded = _cohort.library_keys(adata, stored)
    has_calls = phenotype_key in adata.uns
    calls_table = phenotypes(adata, key=phenotype_key) if has_calls else None
    per_observation = calls_table is not None and set(calls_table.index.astype(str)) == set(adata.obs_names)
    sample_of, key = _cohort.observation_samples(adata, library_key=library_key, recorded=recorded,
                                                 per_observation=per_observation and adata.n_obs > 1)  # fmt: skip
    samples = pd.Index(pd.unique(sample_of), name=key or "sample").astype(str)
    phenotype_input = None
    if calls_table is not None:
        calls = dict(adata.uns[phenotype_key].get("params", {}).get("calls", {})) or {"phenotype": PHENOTYPE_CALLS}
        phenotype_input = (calls_table, calls, f"`adata.uns[{phenotype_key!r}]`")
    features, sources = _cohort.per_sample_columns(
        samples=samples, key=key, sample_of=sample_of,
        scores=scores(adata, key=scores_key) if scores_key in adata.obsm else None,
        signatures_aggregate=signatures_aggregate, phenotypes=phenotype_input,
        evidence=evidence(adata, key=phenotype_key) if has_calls else None,
        tcell_states=tcell_states(adata, key=tcell_states_key) if tcell_states_key in adata.uns else None,
        compartments=compartments(adata, key=compartment_key) if compartment_key in adata.uns else None,
    )  # fmt: skip
    attrs: dict[str, Any] = {"level": "sample", "library_key": key or "", "patient_key": patient_key or "",
                             "weight": weight if patient_key else "", "signatures_aggregate": signatures_aggregate,
                             "numeric": "", "categorical": "", "sources": sources}  # fmt: skip
    if patient_key is not None:
        patient_of = _cohort.patients_of(adata, patient_key, sample_of, samples)
        weights = _cohort.sample_weights(adata, weight, sample_of, features)
        features = _cohort.aggregate_patients(features, patient_of, weights)
        attrs |= {"level": "patient", "numeric": _cohort.NUMERIC_RULE, "categorical": _cohort.CATEGORICAL_RULE}
    features.attrs = attrs
    return features


@accepts_spatialdata
def associations(adata: AnnData, *, key: str = ASSOCIATION_KEY) -> pd.DataFrame:
    """The tidy table of :func:`tmekit.tl.associate` stored with ``adata=`` (a copy): one row per feature and test.

    Parameters
    ----------
    adata
        The object ``associate(..., adata=adata)`` stored its result in.
    key
        Where it was stored (``associate``'s ``key_added``).

    Returns
    -------
    DataFrame with the columns of :func:`tmekit.tl.associate`'s table (``feature``, ``test``, ``effect``, CI, ``p``,
    ``q``, ``status``, ...).

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> features = tk.get.cohort_features(bulk).rename_axis("patient_id")
    >>> _ = tk.tl.associate(
    ...     features, tk.datasets.imvigor210_clinical(), response="binary_response", positive="CR/PR", adata=bulk
    ... )
    >>> table = tk.get.associations(bulk)
    >>> table.loc[table["feature"] == "evidence:score_cd8_teff", ["test", "effect", "q"]].shape
    (1, 3)
    """
    return _stored(adata, "uns", key, "tk.tl.associate(features, clinical, adata=adata, ...)")["table"].copy()


@accepts_spatialdata
def response_rates(adata: AnnData, *, key: str = ASSOCIATION_KEY) -> pd.DataFrame:
    """Response rate per level of each categorical feature, stored by :func:`tmekit.tl.associate` (a copy).

    Parameters
    ----------
    adata
        The object ``associate(..., adata=adata)`` stored its result in.
    key
        Where it was stored (``associate``'s ``key_added``).

    Returns
    -------
    DataFrame with columns ``feature``, ``level``, ``n``, ``responders``, ``rate`` (empty without a response or
    categorical features).

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> features = tk.get.cohort_features(bulk).rename_axis("patient_id")
    >>> _ = tk.tl.associate(
    ...     features, tk.datasets.imvigor210_clinical(), response="binary_response", positive="CR/PR", adata=bulk
    ... )
    >>> rates = tk.get.response_rates(bulk)
    >>> sorted(rates["level"])
    ['desert', 'excluded', 'inflamed']
    """
    return _stored(adata, "uns", key, "tk.tl.associate(features, clinical, adata=adata, ...)")["rates"].copy()
