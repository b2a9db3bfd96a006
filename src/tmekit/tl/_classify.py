"""`tk.tl.classify`: one immune phenotype per sample, with its confidence and the evidence behind it.

A dispatcher: the rule sets, the spatial calls and the writer live in ``tl/_phenotype``.

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

**Expression** (bulk, pseudobulk): :func:`tmekit.tl.classify_expression` (``tl/_classify_expression.py``).

Which cells are tumour, immune, CD8 T and T cells (and their PD-L1 status) is declared once per object with
:func:`tmekit.pp.cell_types` (``tmekit._roles``); ``cell_types=`` changes it for one call.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from tmekit import sp
from tmekit._constants import CONTENT_KEY, PHENOTYPE_KEY, SPATIAL_KEY
from tmekit._obs import require_coordinates, samples
from tmekit._roles import roles
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._warnings import IgnoredOptionWarning
from tmekit.tl._phenotype import RULES
from tmekit.tl._phenotype.immunoscore import read_reference
from tmekit.tl._phenotype.rules import resolve, store
from tmekit.tl._phenotype.spatial import MEASUREMENT_CV, cell_calls, ensure_compartments, spot_calls

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import pandas as pd
    from anndata import AnnData

__all__ = ["RULES", "classify"]

#: Evidence floors a call takes through ``thresholds=`` beside the rule sets' own thresholds.
EVIDENCE_FLOORS = {"min_tumor_cells": 50, "min_tumor_area": 0.005, "min_tumor_spots": 5}


@accepts_spatialdata
@all_or_nothing
def classify(
    adata: AnnData,
    *,
    rules: str | Sequence[str] | None = None,
    library_key: str | None = None,
    cell_types: Mapping[str, Any] | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    thresholds: Mapping[str, float] | None = None,
    contacts: str = "touching",
    contact_distance: float | None = None,
    immunoscore_reference: pd.DataFrame | str | Path | None = None,
    cohort_relative: bool = False,
    n_boot: int = 200,
    measurement_cv: float = MEASUREMENT_CV,
    rng: np.random.Generator | int | None = 0,
    layer: str | None = None,
    key_added: str = PHENOTYPE_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Call each sample inflamed, excluded, desert or indeterminate from positions, with confidence and evidence.

    Each rule set is a :class:`PhenotypeRule` of :data:`RULES` (its description, thresholds and sources; the
    documentation's Frameworks page explains them); read the calls back with
    :func:`tmekit.get.phenotypes` (one row per sample: ``phenotype``, ``confidence``, ``rules``, ``reason``, the
    thresholds and every metric the call read). Bulk and pseudobulk expression: :func:`classify_expression`.

    Parameters
    ----------
    adata
        Cells with coordinates (``obsm[spatial_key]``) and cell types, or spots (Visium-like).
    rules
        Rule sets: a key of ``RULES``, a list or a comma-separated string of them (``"cd8_density"`` for cells,
        ``"spot_cd8"`` for spots by default); each gets its own columns (``phenotype_<rule>``, ...) and
        ``obs[f"{key_added}_{rule}"]``, the first also ``phenotype``.
    library_key
        ``obs`` column naming each cell's sample (tumour, field, core). ``None``: one sample.
    cell_types
        Which labels of which ``obs`` column are tumour, immune, CD8 T and T cells, and each cell's PD-L1 status
        (``til_pdl1``): declared once with :func:`tmekit.pp.cell_types` (or by :func:`tmekit.tl.annotate`); this
        mapping (same keys) changes entries for this call only. Spots: labels are columns of the spot content.
    spatial_key, microns_per_unit
        Coordinates in ``obsm`` and their unit, as for :func:`tmekit.sp.compartments`.
    thresholds
        Override a rule set's thresholds (keys of ``RULES[rule].thresholds``) and the evidence floors per sample:
        ``min_tumor_cells`` (50 tumour cells), ``min_tumor_area`` (0.005 mm^2 of core and margin),
        ``min_tumor_spots`` (5 tumour spots); below a floor the sample is ``indeterminate``.
    contacts, contact_distance
        Which cells touch, for the mixing score: ``"touching"`` (Delaunay neighbours at most 12 um apart, as
        Keren et al. counted touching cells) or ``"radius"`` (pairs within 20 um, SPIAT); see
        :func:`tmekit.sp.tile_table`.
    immunoscore_reference, cohort_relative
        ``immunoscore``: a table (or CSV) of reference CT/IM densities (``CD3_CT``, ``CD3_IM``, ``CD8_CT``,
        ``CD8_IM`` per mm^2), or ``cohort_relative=True`` to rank within the samples of this call (at least 10).
    n_boot, measurement_cv, rng
        Confidence: replicates of the sample's evidence (its tiles or spots resampled, each metric the rule reads
        times a log-normal factor of coefficient of variation ``measurement_cv``, 25% by default: what sampling does
        not see), and their seed (with the sample's name: one sample's confidence does not depend on the others or on
        the order of the cells).
    layer
        Spots: raw counts to deconvolve (when ``obsm`` has no spot content yet).
    key_added, overwrite, copy
        ``uns[key_added]`` gets ``{"table", "params"}``, ``obs[key_added]`` each cell's call; replace existing
        results (and compartments made with other parameters); return a new object instead.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()  # 4 MIBI fields in pixels; the cell types' roles come declared
    >>> tk.tl.classify(adata, rules=["cd8_density", "keren2018"], library_key="patient_id", microns_per_unit=800 / 2048)
    >>> calls = tk.get.phenotypes(adata)
    >>> calls["phenotype_cd8_density"].tolist(), calls["phenotype_keren2018"].tolist()
    (['inflamed', 'inflamed', 'excluded', 'inflamed'], ['inflamed', 'inflamed', 'excluded', 'excluded'])
    """
    if not overwrite and (key_added in adata.uns or key_added in adata.obs):
        msg = f"`adata.uns[{key_added!r}]` or `adata.obs[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        raise ValueError(msg)
    floors = {**EVIDENCE_FLOORS, **{k: v for k, v in (thresholds or {}).items() if k in EVIDENCE_FLOORS}}
    thresholds = {k: v for k, v in (thresholds or {}).items() if k not in EVIDENCE_FLOORS}
    target = adata.copy() if copy else adata
    spots = sp.is_spot_data(target) and roles(target, cell_types).key is None
    if not spots:
        require_coordinates(target, spatial_key=spatial_key, also=" Bulk or pseudobulk expression (no positions): "
                            "`tk.tl.classify_expression(adata, ...)`.")  # fmt: skip
    given_roles = roles(target, cell_types, need=() if spots else ("key", "tumor", "immune", "cd8"))
    labels = given_roles.labels()
    given = {"t_labels": labels["t"] is not None, "pdl1": given_roles.pdl1 is not None,
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
    where = {"library_key": library_key, "spatial_key": spatial_key, "microns_per_unit": microns_per_unit}
    if spots:
        cell_only = [k for k, v in (("pdl1", given_roles.pdl1), ("immunoscore_reference", immunoscore_reference))
                     if v is not None]  # fmt: skip
        if cell_only or cohort_relative:
            cell_only += ["cohort_relative"] * cohort_relative
            msg = f"{cell_only} apply to single cells, not to spot data: drop them."
            raise ValueError(msg)
        if CONTENT_KEY not in target.obsm:
            sp.spot_content(target, layer=layer)  # the shipped breast-carcinoma reference; recorded in uns
        ensure_compartments(target, overwrite=overwrite, mode="spots", cell_types=given_roles, **where)
        table, params = spot_calls(target, rules=chosen, overrides=thresholds, labels=labels, library_key=library_key,
                                   min_tumor_spots=floors["min_tumor_spots"], n_boot=n_boot, rng=rng,
                                   measurement_cv=measurement_cv)  # fmt: skip
    else:
        if layer is not None:
            msg = "`layer` is read by spot deconvolution, not by calls on single cells: drop it."
            raise ValueError(msg)
        ensure_compartments(target, overwrite=overwrite, cell_types=given_roles, **where)
        table, params = cell_calls(
            target, rules=chosen, overrides=thresholds, cell_types=given_roles, **where,
            min_tumor_cells=floors["min_tumor_cells"], min_tumor_area=floors["min_tumor_area"], contacts=contacts,
            contact_distance=contact_distance, n_boot=n_boot, rng=rng, measurement_cv=measurement_cv,
            cohort_relative=cohort_relative, percentile_reference=read_reference(immunoscore_reference),
        )  # fmt: skip
    params = {"mode": "spatial", "rules": ",".join(names), "description": chosen[0].description,
              "source": chosen[0].source, "n_boot": int(n_boot), "library_key": library_key or "",
              **params}  # fmt: skip
    sample_of = np.empty(target.n_obs, dtype=object)
    for name, idx in samples(target, library_key=library_key):
        sample_of[idx] = name
    store(target, table, params, sample_of=sample_of, key_added=key_added, calls={r.name: r.calls for r in chosen})
    return target if copy else None
