"""`tk.tl.classify`: one immune phenotype per sample, with its confidence and the evidence behind it.

A dispatcher: the rule sets, the spatial and expression calls and the writer live in ``tl/_phenotype``.

**Spatial, single cells**: compartments (:func:`tmekit.sp.compartments`, reused when they exist with the same
cell types, labels, samples and units), per-sample evidence (:func:`tmekit.sp.tile_table`,
:func:`tmekit.sp.infiltration`), then a rule set of ``RULES``: ``"cd8_density"`` (default; inflamed if CD8
density in the tumour core > 100/mm^2, else excluded if the invasive margin > 200/mm^2, else desert; J
Immunother Cancer 2024;12:e009550) or ``"keren2018"`` (desert below 250 immune cells per 800 um field, else
excluded if the mixing score < 0.22, else inflamed; Keren et al., Cell 2018). A sample is ``indeterminate``
when the evidence is too thin: fewer than ``min_tumor_cells`` tumour cells, a tumour region below
``min_tumor_area`` mm^2, or a metric the rule needs that cannot be computed. **Confidence** is the share of
``n_boot`` replicates of the sample's evidence that repeat the call: its square tiles (1/8 of its shorter side, at
least 50 um) resampled with replacement, and each metric the rule reads multiplied by a log-normal factor of 25%
coefficient of variation (``measurement_cv``: cell typing, segmentation and section-to-section variation that
sampling cannot see). About 0.5 at a threshold; 0 for indeterminate samples. Seeded per sample.

**Spatial, spots** (Visium-like): rule set ``"spot_cd8"`` on the deconvolved content (:func:`tmekit.sp.spot_content`
with the shipped reference when ``obsm`` has none); confidence from resampled spots.

**Expression** (bulk, pseudobulk; ``inferred=True``): the shipped model (CD8 T effector, IFN-gamma, T- and B-cell
features fitted on the 142 IMvigor210 calibration patients; ``tk.tl.load_phenotype_model().provenance``) reads
per-gene standardised log expression of each sample on its own (z-scores as given; log2, counts and linear values
brought to log2(x + 1) and standardised against the model's fixed reference; ``scale="cohort"`` z-scores within
the cohort instead, flagged). With ``library_key`` cells are first summed per sample (:func:`tmekit.tl.aggregate`);
a pseudobulk below ``min_cells`` cells (50) or ``min_counts`` counts (100,000) is indeterminate (the model's genes
are ~1 in 10,000 counts of a tumour). Cell-level data without ``library_key`` are refused. ``confidence`` = top
class probability x ``gene_coverage`` (the share of the model's evidence whose genes are present); indeterminate
below ``min_overlap``.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from tmekit import sp
from tmekit._constants import CONTENT_KEY, PHENOTYPE_KEY, SPATIAL_KEY
from tmekit._obs import samples
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._warnings import IgnoredOptionWarning
from tmekit.tl._phenotype import RULES
from tmekit.tl._phenotype.expression import MIN_PSEUDOBULK_CELLS, MIN_PSEUDOBULK_COUNTS, expression_calls
from tmekit.tl._phenotype.immunoscore import read_reference
from tmekit.tl._phenotype.rules import resolve, store
from tmekit.tl._phenotype.spatial import MEASUREMENT_CV, cell_calls, ensure_compartments, spot_calls
from tmekit.tl._phenotype.til_pdl1_expression import til_pdl1_expression_calls

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import pandas as pd
    from anndata import AnnData

    from tmekit.tl._phenotype.model import PhenotypeModel, Scale

__all__ = ["RULES", "classify"]

_SPATIAL_ONLY = ("rules", "cell_type_key", "tumor_labels", "immune_labels", "cd8_labels", "t_labels", "thresholds",
                 "microns_per_unit", "pdl1_key", "pdl1_threshold", "immunoscore_reference")  # fmt: skip
_EXPRESSION_ONLY = ("model", "min_cells", "min_counts")


@accepts_spatialdata
@all_or_nothing
def classify(
    adata: AnnData,
    *,
    mode: str = "spatial",
    rules: str | None = None,
    library_key: str | None = None,
    cell_type_key: str | None = None,
    tumor_labels: Sequence[str] | str | None = None,
    immune_labels: Sequence[str] | None = None,
    cd8_labels: Sequence[str] | None = None,
    t_labels: Sequence[str] | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_tumor_cells: int = 50,
    min_tumor_area: float = 0.005,
    min_tumor_spots: int = 5,
    contacts: str = "touching",
    contact_distance: float | None = None,
    pdl1_key: str | None = None,
    pdl1_threshold: float | None = None,
    immunoscore_reference: pd.DataFrame | str | Path | None = None,
    cohort_relative: bool = False,
    n_boot: int = 200,
    measurement_cv: float = MEASUREMENT_CV,
    rng: np.random.Generator | int | None = 0,
    model: PhenotypeModel | str | Path | None = None,
    scale: Scale = "auto",
    layer: str | None = None,
    min_overlap: float = 0.5,
    min_cells: int | None = None,
    min_counts: float | None = None,
    species: str = "auto",
    key_added: str = PHENOTYPE_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Call each sample inflamed, excluded, desert or indeterminate, with a confidence and the evidence.

    The module notes (``tmekit.tl._classify``, and the README) describe each mode; read the calls back with
    :func:`tmekit.get.phenotypes` (one row per sample: ``phenotype``, ``confidence``, ``rules`` or ``model``,
    ``mode``, ``inferred``, ``reason``, the thresholds and every metric or feature the call read).

    Parameters
    ----------
    adata
        Spatial: cells with coordinates (``obsm[spatial_key]``) and cell types, or spots. Expression: samples x
        genes (bulk, pseudobulk), or cells x genes with ``library_key``.
    mode
        ``"spatial"`` or ``"expression"``.
    rules
        Spatial rule sets: a key of ``RULES``, a list or a comma-separated string of them (``"cd8_density"`` for
        cells, ``"spot_cd8"`` for spots by default); each gets its own columns (``phenotype_<rule>``, ...) and
        ``obs[f"{key_added}_{rule}"]``, the first also ``phenotype``. Expression: ``"til_pdl1"`` infers the TIL x
        PD-L1 type from CD274 and CD8 T-effector expression (shipped IMvigor210 models; ``inferred=True``).
    pdl1_key, pdl1_threshold
        Spatial, ``til_pdl1``: each cell's PD-L1 status, an ``obs`` column (booleans, 0/1, counts or intensities)
        or a channel / gene of ``X`` (CD274 in RNA data); ``pdl1_threshold`` for continuous intensities (see
        ``tmekit._markers`` for the rule).
    immunoscore_reference, cohort_relative
        Spatial, ``immunoscore``: a table (or CSV) of reference CT/IM densities (``CD3_CT``, ``CD3_IM``,
        ``CD8_CT``, ``CD8_IM`` per mm^2), or ``cohort_relative=True`` to rank within the samples of this call.
    library_key
        ``obs`` column naming each cell's sample (tumour, field, core). ``None``: one sample.
    cell_type_key, tumor_labels, immune_labels, cd8_labels, t_labels, spatial_key, microns_per_unit
        Spatial: as for :func:`tmekit.sp.infiltration` (spots: labels are columns of the spot content).
    thresholds
        Spatial: override a rule set's thresholds (keys of ``RULES[rules].thresholds``).
    min_tumor_cells, min_tumor_area, min_tumor_spots
        Spatial evidence floor per sample (tumour cells; mm^2 of core and margin; tumour spots).
    contacts, contact_distance
        Which cells touch, for the mixing score: ``"touching"`` (Delaunay neighbours at most 12 um apart, as
        Keren et al. counted touching cells) or ``"radius"`` (pairs within 20 um, SPIAT); see
        :func:`tmekit.sp.tile_table`.
    n_boot, measurement_cv, rng
        Spatial confidence: replicates of the sample's evidence (its tiles or spots resampled, each metric the rule
        reads times a log-normal factor of coefficient of variation ``measurement_cv``, 25% by default: what
        sampling does not see), and their seed (with the sample's name: one sample's confidence does not depend
        on the others or on the order of the cells).
    model, scale, min_overlap, species
        Expression: a :class:`~tmekit.tl.PhenotypeModel` or saved model (``None``: shipped); the input scale
        (``"auto"``, ``"zscore"``, ``"log2"``, ``"counts"`` or ``"cohort"``); the minimum ``gene_coverage``;
        ``"auto"``, ``"human"`` or ``"mouse"`` (mouse data are read through the orthologs of the model's genes).
    layer
        Expression: the layer with expression (bulk) or raw counts (cells). Spots: raw counts to deconvolve.
    min_cells, min_counts
        Expression with ``library_key``: the smallest pseudobulk called (default 50 cells, 100,000 counts).
    key_added, overwrite, copy
        ``uns[key_added]`` gets ``{"table", "params"}``, ``obs[key_added]`` each cell's call; replace existing
        results (and compartments made with other parameters); return a new object instead.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.
    """
    given = {"rules": rules, "cell_type_key": cell_type_key, "tumor_labels": tumor_labels, "thresholds": thresholds,
             "immune_labels": immune_labels, "cd8_labels": cd8_labels, "t_labels": t_labels,
             "microns_per_unit": microns_per_unit, "model": model, "layer": layer, "min_cells": min_cells,
             "min_counts": min_counts, "pdl1_key": pdl1_key, "pdl1_threshold": pdl1_threshold,
             "immunoscore_reference": immunoscore_reference}  # fmt: skip
    other = _EXPRESSION_ONLY if mode == "spatial" else _SPATIAL_ONLY if mode == "expression" else ()
    wrong = sorted(k for k in other if given.get(k) is not None and not (k == "rules" and rules == "til_pdl1"))
    if mode == "expression" and cohort_relative:
        wrong.append("cohort_relative")
    if mode == "spatial" and (scale != "auto" or species != "auto"):
        wrong += [k for k, v in (("scale", scale), ("species", species)) if v != "auto"]
    if wrong:
        kind = "expression" if mode == "spatial" else "spatial"
        msg = f"{sorted(wrong)} apply to mode={kind!r} only and would be ignored with mode={mode!r}: drop them."
        raise ValueError(msg)
    if mode not in {"spatial", "expression"}:
        msg = f"Unknown mode={mode!r}: use 'spatial' (cells with coordinates) or 'expression' (bulk/pseudobulk)."
        raise ValueError(msg)
    if not overwrite and (key_added in adata.uns or key_added in adata.obs):
        msg = f"`adata.uns[{key_added!r}]` or `adata.obs[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        raise ValueError(msg)
    target = adata.copy() if copy else adata
    if mode == "expression":
        if rules is not None and model is not None:
            msg = "`rules='til_pdl1'` uses its own shipped models; drop `model=` (or `rules=` to use your model)."
            raise ValueError(msg)
        infer = til_pdl1_expression_calls if rules == "til_pdl1" else partial(expression_calls, model=model)
        table, params, sample_of = infer(
            target, scale=scale, layer=layer, library_key=library_key, min_overlap=min_overlap, species=species,
            min_cells=MIN_PSEUDOBULK_CELLS if min_cells is None else min_cells,
            min_counts=MIN_PSEUDOBULK_COUNTS if min_counts is None else min_counts,
        )  # fmt: skip
        calls = {str(params["model"]): tuple(table["phenotype"].cat.categories)}  # the model's classes
        store(target, table, params, sample_of=sample_of, key_added=key_added, calls=calls)
        return target if copy else None
    spots = sp.is_spot_data(target) and cell_type_key is None
    given = {"t_labels": t_labels is not None, "pdl1": pdl1_key is not None,
             "percentile_reference": (immunoscore_reference is not None) != bool(cohort_relative)}  # fmt: skip
    if immunoscore_reference is not None and cohort_relative:
        msg = "Give `immunoscore_reference=` or `cohort_relative=True`, not both: percentiles rank against one of them."
        raise ValueError(msg)
    chosen = resolve(rules, spots=spots, thresholds=thresholds, given=given)
    names = [r.name for r in chosen]
    readers = [n for n, r in RULES.items() if "percentile_reference" in r.needs]
    if (cohort_relative or immunoscore_reference is not None) and not set(readers) & set(names):
        option = "cohort_relative=True" if cohort_relative else "immunoscore_reference"
        msg = (
            f"`{option}` is ignored: only rule set(s) {readers} rank against it, and this call applies {names}. "
            f"Add {readers[0]!r} to `rules=` or drop it."
        )
        warnings.warn(msg, IgnoredOptionWarning, stacklevel=4)
    taken = [k for k in (key_added, *(f"{key_added}_{n}" for n in names if len(names) > 1)) if k in target.obs]
    if taken and not overwrite:
        msg = f"`adata.obs` has {taken}. Pass `overwrite=True` or `key_added=`."
        raise ValueError(msg)
    labels = {"tumor": tumor_labels, "immune": immune_labels, "cd8": cd8_labels, "t": t_labels}
    where = {"library_key": library_key, "spatial_key": spatial_key, "microns_per_unit": microns_per_unit}
    if spots:
        cell_only = [
            k for k, v in (("pdl1_key", pdl1_key), ("immunoscore_reference", immunoscore_reference)) if v is not None
        ]
        if cell_only or cohort_relative:
            cell_only += ["cohort_relative"] * cohort_relative
            msg = f"{cell_only} apply to single cells, not to spot data: drop them."
            raise ValueError(msg)
        if CONTENT_KEY not in target.obsm:
            sp.spot_content(target, layer=layer)  # the shipped breast-carcinoma reference; recorded in uns
        ensure_compartments(target, overwrite=overwrite, mode="spots", tumor_labels=tumor_labels, **where)
        table, params = spot_calls(target, rules=chosen, overrides=thresholds or {}, labels=labels,
                                   library_key=library_key, min_tumor_spots=min_tumor_spots, n_boot=n_boot, rng=rng,
                                   measurement_cv=measurement_cv)  # fmt: skip
    else:
        if layer is not None:
            msg = "`layer` is read by expression calls and spot deconvolution, not by calls on single cells: drop it."
            raise ValueError(msg)
        if cell_type_key is None or None in (tumor_labels, immune_labels, cd8_labels):
            msg = (
                "Spatial calls on single cells need `cell_type_key` (the obs column of cell types; or run "
                "`tk.tl.annotate` first) and `tumor_labels`, `immune_labels` and `cd8_labels`. Spot data (Visium) "
                "are recognised by obs['array_row'/'array_col'], uns['tmekit_spots'] or obsm['tmekit_spot_content']."
            )
            raise ValueError(msg)
        ensure_compartments(
            target, overwrite=overwrite, cell_type_key=cell_type_key, tumor_labels=tumor_labels, **where
        )
        table, params = cell_calls(
            target, rules=chosen, overrides=thresholds or {}, labels=labels, cell_type_key=cell_type_key, **where,
            min_tumor_cells=min_tumor_cells, min_tumor_area=min_tumor_area, contacts=contacts,
            contact_distance=contact_distance, n_boot=n_boot, rng=rng, measurement_cv=measurement_cv,
            pdl1_key=pdl1_key, pdl1_threshold=pdl1_threshold, cohort_relative=cohort_relative,
            percentile_reference=read_reference(immunoscore_reference),
        )  # fmt: skip
    params = {"mode": "spatial", "rules": ",".join(names), "description": chosen[0].description,
              "source": chosen[0].source, "n_boot": int(n_boot), "library_key": library_key or "",
              **params}  # fmt: skip
    sample_of = np.empty(target.n_obs, dtype=object)
    for name, idx in samples(target, library_key=library_key):
        sample_of[idx] = name
    store(target, table, params, sample_of=sample_of, key_added=key_added, calls={r.name: r.calls for r in chosen})
    return target if copy else None
