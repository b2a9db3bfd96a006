"""`tk.tl.classify`: one immune phenotype per sample, with its confidence and the evidence behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._constants import COMPARTMENT_KEY, PHENOTYPE_KEY, SPATIAL_KEY
from tmekit._obs import samples
from tmekit._transaction import all_or_nothing
from tmekit.sp._compartments import compartments
from tmekit.sp._infiltration import CONTACT_RADIUS_UM, metrics_from_sums, tile_tables
from tmekit.sp._spots import CONTENT_KEY, is_spot_data, spot_metrics, spot_tables
from tmekit.tl._expression import MIN_PSEUDOBULK_CELLS, MIN_PSEUDOBULK_COUNTS, classify_expression

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from anndata import AnnData

    from tmekit.tl._phenotype_model import PhenotypeModel

__all__ = ["RULES", "PhenotypeRule", "classify"]

PHENOTYPES = ("inflamed", "excluded", "desert", "indeterminate")


@dataclass(frozen=True)
class PhenotypeRule:
    """A named decision rule on per-sample metrics, with thresholds and their sources."""

    name: str
    description: str
    source: str
    thresholds: dict[str, float]
    reads: tuple[str, ...]
    decide: Callable[[pd.DataFrame, Mapping[str, float]], np.ndarray] = field(repr=False)
    data: str = "cells"  # "cells" (single-cell positions) or "spots" (Visium-like spot content)


def _keren(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    cold_density = t["cold_immune_per_field"] / (t["field_um"] / 1000.0) ** 2
    cold = m["density_immune_tissue"].to_numpy() < cold_density
    mixing = m["mixing_score"].to_numpy()
    out = np.where(mixing < t["mixing_threshold"], "excluded", "inflamed").astype(object)
    out[np.isnan(mixing)] = "indeterminate"
    out[cold] = "desert"
    return out


def _cd8_density(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    core, margin = m["density_cd8_core"].to_numpy(), m["density_cd8_margin"].to_numpy()
    out = np.where(
        core > t["core_cd8_per_mm2"], "inflamed", np.where(margin > t["margin_cd8_per_mm2"], "excluded", "desert")
    )
    out = out.astype(object)
    out[np.isnan(core) | (np.isnan(margin) & ~(core > t["core_cd8_per_mm2"]))] = "indeterminate"
    return out


def _spot_cd8(m: pd.DataFrame, t: Mapping[str, float]) -> np.ndarray:
    core, margin = m["fraction_cd8_core"].to_numpy(), m["fraction_cd8_margin"].to_numpy()
    out = np.where(
        core > t["core_cd8_fraction"], "inflamed", np.where(margin > t["margin_cd8_fraction"], "excluded", "desert")
    ).astype(object)
    out[np.isnan(core) | (np.isnan(margin) & ~(core > t["core_cd8_fraction"]))] = "indeterminate"
    return out


#: Cells per mm^2 used to turn the CD8 density thresholds into spot fractions (carcinoma cellularity,
#: ~16 um between cell centres; the tumour density of tk.datasets.synthetic_tissue).
NOMINAL_CELLS_PER_MM2 = 4000.0

RULES: dict[str, PhenotypeRule] = {
    "keren2018": PhenotypeRule(
        name="keren2018",
        description=(
            "Keren et al. 2018 (MIBI TNBC): cold (-> desert) when fewer than 250 immune cells per 800 um field, "
            "scaled to the sample's tissue area (390.6 per mm^2); otherwise compartmentalized (-> excluded) when "
            "the mixing score (immune-tumour / immune-immune contacts) is below 0.22; else mixed (-> inflamed)."
        ),
        source="Keren L, et al. Cell 2018;174:1373-1387. doi:10.1016/j.cell.2018.08.039",
        thresholds={"cold_immune_per_field": 250.0, "field_um": 800.0, "mixing_threshold": 0.22},
        reads=("density_immune_tissue", "mixing_score", "immune_tumor_contacts", "immune_immune_contacts"),
        decide=_keren,
    ),
    "cd8_density": PhenotypeRule(
        name="cd8_density",
        description=(
            "CD8 density in tumour core vs invasive margin: inflamed when core > 100 CD8/mm^2; else excluded when "
            "margin > 200 CD8/mm^2; else desert (HNSCC immunotypes, J Immunother Cancer 2024;12:e009550)."
        ),
        source="J Immunother Cancer 2024;12:e009550 (HNSCC immunotype figure legend); margin as in Immunoscore.",
        thresholds={"core_cd8_per_mm2": 100.0, "margin_cd8_per_mm2": 200.0},
        reads=("density_cd8_core", "density_cd8_margin", "area_core_mm2", "area_margin_mm2"),
        decide=_cd8_density,
    ),
    "spot_cd8": PhenotypeRule(
        name="spot_cd8",
        description=(
            "Spot data: the cd8_density rule on deconvolved spot content. Inflamed when the mean CD8 T fraction "
            "of tumour-core spots > 0.025; else excluded when that of invasive-margin spots > 0.05; else "
            "desert. The fractions are the CD8 densities of cd8_density (100 and 200 per mm^2) divided by "
            "a nominal 4,000 cells per mm^2."
        ),
        source="J Immunother Cancer 2024;12:e009550 thresholds (as cd8_density) over a nominal carcinoma "
        "cellularity of 4,000 cells/mm^2; spot content from tk.sp.spot_content.",
        thresholds={
            "core_cd8_fraction": 100.0 / NOMINAL_CELLS_PER_MM2,
            "margin_cd8_fraction": 200.0 / NOMINAL_CELLS_PER_MM2,
        },
        reads=("fraction_cd8_core", "fraction_cd8_margin", "n_spots_core", "n_spots_margin"),
        decide=_spot_cd8,
        data="spots",
    ),
}


def _refuse_other_mode_arguments(mode: str, *, spatial: Mapping[str, object], expression: Mapping[str, object]) -> None:
    """Arguments of the other mode would be silently ignored: say so instead."""
    other = expression if mode == "spatial" else spatial if mode == "expression" else {}
    given = sorted(k for k, v in other.items() if v is not None)
    if given:
        kind = "expression" if mode == "spatial" else "spatial"
        msg = f"{given} apply to mode={kind!r} only and would be ignored with mode={mode!r}: drop them."
        raise ValueError(msg)


def _bootstrap_confidence(
    frame: pd.DataFrame,
    metrics: Callable[[pd.DataFrame], pd.DataFrame],
    rule: PhenotypeRule,
    limits: Mapping[str, float],
    call: str,
    *,
    gen: np.random.Generator,
    n_boot: int,
) -> float:
    """Share of ``n_boot`` bootstrap replicates that give ``call``.

    Rows of ``frame`` (tiles or spots) are resampled with replacement and the metrics recomputed from the
    weighted sums.
    """
    weights = gen.multinomial(len(frame), np.full(len(frame), 1 / len(frame)), size=n_boot)
    boot = metrics(pd.DataFrame(weights @ frame.to_numpy(float), columns=frame.columns))
    return float(np.mean(rule.decide(boot, limits) == call))


def _labels(name: str, value: Sequence[str] | str | None) -> list[str]:
    if value is None:
        msg = f"`{name}` is required for mode='spatial' (labels of `obs[cell_type_key]`)."
        raise ValueError(msg)
    return [value] if isinstance(value, str) else list(value)


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
    content_key: str = CONTENT_KEY,
    contact_radius: float = CONTACT_RADIUS_UM,
    n_boot: int = 200,
    rng: np.random.Generator | int | None = 0,
    key_added: str = PHENOTYPE_KEY,
    overwrite: bool = False,
    model: PhenotypeModel | str | Path | None = None,
    scale: str = "auto",
    layer: str | None = None,
    sample_key: str | None = None,
    min_overlap: float = 0.5,
    species: str = "auto",
    min_cells: int | None = None,
    min_counts: float | None = None,
) -> pd.DataFrame:
    """Call each sample inflamed, excluded, desert or indeterminate, with a confidence and the evidence.

    Spatial mode: compartments (computed with :func:`tmekit.sp.compartments` if ``obs`` has none),
    infiltration metrics (:func:`tmekit.sp.infiltration`), then a named rule set from ``RULES``:

    - ``"cd8_density"`` (default): inflamed if CD8 density in the tumour core > 100/mm^2; else excluded
      if the invasive margin > 200/mm^2; else desert (J Immunother Cancer 2024;12:e009550).
    - ``"keren2018"``: desert ("cold") below 250 immune cells per 800 um field (scaled by tissue area);
      else excluded ("compartmentalized") if the mixing score < 0.22; else inflamed ("mixed")
      (Keren et al., Cell 2018).

    A sample is ``indeterminate`` when the evidence is too thin: fewer than ``min_tumor_cells`` tumour
    cells, a tumour region smaller than ``min_tumor_area`` mm^2, or a metric the rule needs that cannot
    be computed (no tumour core left inside a small tumour; no immune contacts at all).

    **Confidence** is the share of ``n_boot`` bootstrap replicates that give the same call, resampling the
    sample's square tiles (1/8 of its shorter side, at least 50 um) with replacement and recomputing
    every metric from the resampled tiles. It is 1 when the call is robust to which parts of the tissue
    were sampled and falls towards 1/3 near a threshold. Indeterminate samples get confidence 0.

    **Expression mode** (``mode="expression"``, bulk RNA-seq or pseudobulk; no positions): the call is an
    *inference* (``inferred=True``) from signature features computed from each sample's own expression:
    means of per-gene standardised log expression over the model's signatures (shipped model:
    CD8 T effector, IFN-gamma 6-gene, T-cell and B-cell markers, fitted on the 142 IMvigor210 calibration
    patients; provenance and cross-validated balanced accuracy in ``tk.tl.load_phenotype_model().provenance``).
    Inputs: per-gene z-scores are used as they are; log2 expression (TPM/CPM, any pseudocount), counts
    and linear values are brought to log2(x + 1) per sample and standardised gene by gene against the
    model's fixed reference (IMvigor210 bladder log2 TPM), so a sample gets the same call alone or inside
    a cohort. ``scale="cohort"`` z-scores within the given cohort instead: cohort-relative, flagged in the
    table. With ``sample_key`` and cell-level data, cells are first summed per sample
    (:func:`tmekit.tl.aggregate`, raw counts in ``layer``). Class probabilities are ``p_*``;
    ``confidence`` = the top probability x ``gene_coverage``, the share of the model's evidence whose genes
    are present (each feature's share of its genes, weighted by the feature's share of the coefficients);
    a sample is ``indeterminate`` (confidence 0) when ``gene_coverage`` < ``min_overlap`` or a feature has
    no gene at all.

    With ``sample_key``, a pseudobulk of fewer than ``min_cells`` cells (default 50) or ``min_counts`` counts
    (default 100,000) is ``indeterminate``: the model reads genes such as CD8A, GZMB and CXCL9 that make up
    about 1 in 10,000 counts of a tumour, so below that a sample's features rest on a handful of molecules.
    Cell-level data without ``sample_key`` are refused (each cell would be called as a tumour).

    Parameters
    ----------
    adata
        Spatial mode: cells with coordinates (``obsm[spatial_key]``) and cell types (``obs[cell_type_key]``).
        Expression mode: samples x genes (bulk, pseudobulk), or cells x genes with ``sample_key``.
    mode
        ``"spatial"`` or ``"expression"``.
    rules
        ``"cd8_density"`` or ``"keren2018"``.
    library_key, cell_type_key, tumor_labels, immune_labels, cd8_labels, t_labels, spatial_key, microns_per_unit
        As for :func:`tmekit.sp.infiltration`.
    thresholds
        Override a rule's thresholds (keys as in ``RULES[rules].thresholds``).
    min_tumor_cells, min_tumor_area
        Evidence floor per sample (cells; mm^2).
    contact_radius
        Contact distance (um) for the mixing score.
    n_boot, rng
        Bootstrap replicates and their seed.
    key_added
        ``uns[key_added]`` gets the table and parameters; ``obs[key_added]`` the sample's call per cell.
    overwrite
        Replace existing results under ``key_added``.
    model
        Expression mode: a :class:`~tmekit.tl.PhenotypeModel`, a saved model file, or ``None`` (shipped).
    scale
        Expression mode: ``"auto"`` (judged per sample), ``"zscore"``, ``"log2"``, ``"counts"`` or ``"cohort"``.
    layer
        Expression mode: layer with expression (bulk) or raw counts (cells, with ``sample_key``).
    sample_key
        Expression mode: obs column of sample ids for cell-level data (pseudobulk is built first).
    min_overlap
        Expression mode: minimum ``gene_coverage`` (default 0.5: at least half of the model's evidence
        computable), else ``indeterminate``.
    min_cells, min_counts
        Expression mode with ``sample_key``: the smallest pseudobulk (cells; summed counts) that is called.
    species
        Expression mode: ``"auto"``, ``"human"`` or ``"mouse"``. Mouse data are read through the mouse
        orthologs of the (human) model's genes, standardised against the same human reference: the call
        is then a cross-species transfer (``species`` column says so) and less certain than on human data.
        Spatial mode reads cell types or spot content and needs no species.

    Returns
    -------
    DataFrame, one row per sample: ``phenotype``, ``confidence``, ``rules``, ``mode``, ``inferred``
    (False: read from positions), ``reason`` (why indeterminate), the rule's thresholds and every metric.
    """
    _refuse_other_mode_arguments(
        mode,
        spatial={"rules": rules, "library_key": library_key, "cell_type_key": cell_type_key,
                 "tumor_labels": tumor_labels, "immune_labels": immune_labels, "cd8_labels": cd8_labels,
                 "t_labels": t_labels, "thresholds": thresholds, "microns_per_unit": microns_per_unit},
        expression={"model": model, "sample_key": sample_key, "layer": layer, "min_cells": min_cells,
                    "min_counts": min_counts,
                    "scale": None if scale == "auto" else scale, "species": None if species == "auto" else species},
    )  # fmt: skip
    if mode == "expression":
        return classify_expression(
            adata, model=model, scale=scale, layer=layer, sample_key=sample_key,  # type: ignore[arg-type]
            min_overlap=min_overlap, key_added=key_added, overwrite=overwrite, species=species,
            min_cells=MIN_PSEUDOBULK_CELLS if min_cells is None else min_cells,
            min_counts=MIN_PSEUDOBULK_COUNTS if min_counts is None else min_counts,
        )  # fmt: skip
    if mode != "spatial":
        msg = f"Unknown mode={mode!r}: use 'spatial' (cells with coordinates) or 'expression' (bulk/pseudobulk)."
        raise ValueError(msg)
    spots = is_spot_data(adata) and cell_type_key is None
    rules = rules or ("spot_cd8" if spots else "cd8_density")
    if rules not in RULES:
        msg = f"Unknown rule set {rules!r}. Available: {sorted(RULES)}."
        raise ValueError(msg)
    rule = RULES[rules]
    if (rule.data == "spots") != spots:
        fit = sorted(r for r, v in RULES.items() if v.data == ("spots" if spots else "cells"))
        kind = "spot data (no cell types to count)" if spots else "single cells with `cell_type_key`"
        msg = f"Rule set {rules!r} is for {rule.data}, but this is {kind}: use one of {fit}."
        raise ValueError(msg)
    limits = dict(rule.thresholds)
    unknown = sorted(set(thresholds or {}) - set(limits))
    if unknown:
        msg = f"Unknown thresholds {unknown} for rule set {rules!r}; it uses {sorted(limits)}."
        raise ValueError(msg)
    limits.update(thresholds or {})
    if not overwrite and (key_added in adata.uns or key_added in adata.obs):
        msg = f"`adata.uns[{key_added!r}]` or `adata.obs[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        raise ValueError(msg)
    if spots:
        return _classify_spots(
            adata, rule=rule, limits=limits, library_key=library_key, content_key=content_key,
            groups={"tumor": tumor_labels, "immune": immune_labels, "cd8": cd8_labels, "t": t_labels},
            spatial_key=spatial_key, microns_per_unit=microns_per_unit, min_tumor_spots=min_tumor_spots,
            n_boot=n_boot, rng=rng, key_added=key_added,
        )  # fmt: skip
    if cell_type_key is None:
        msg = (
            "`cell_type_key` is required: the obs column with cell types (or run `tk.tl.annotate` first). "
            "Spot data (Visium) are recognised by obs['array_row'/'array_col'], uns['tmekit_spots'] or "
            "obsm['tmekit_spot_content']."
        )
        raise ValueError(msg)
    tumor, immune, cd8 = (
        _labels("tumor_labels", tumor_labels),
        _labels("immune_labels", immune_labels),
        _labels("cd8_labels", cd8_labels),
    )
    if COMPARTMENT_KEY not in adata.obs:
        compartments(
            adata, cell_type_key=cell_type_key, tumor_labels=tumor, library_key=library_key,
            spatial_key=spatial_key, microns_per_unit=microns_per_unit,
        )  # fmt: skip
    tables = tile_tables(
        adata, cell_type_key=cell_type_key, tumor_labels=tumor, immune_labels=immune, cd8_labels=cd8,
        t_labels=t_labels, library_key=library_key, spatial_key=spatial_key, microns_per_unit=microns_per_unit,
        compartment_key=COMPARTMENT_KEY, contact_radius=contact_radius, tile_size=None,
    )  # fmt: skip
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rows: list[dict[str, Any]] = []
    for name, (frame, extra) in tables.items():
        point = metrics_from_sums(frame.sum().to_frame().T)
        call = str(rule.decide(point, limits)[0])
        metrics = point.iloc[0].to_dict()
        reason = ""
        if metrics["n_tumor"] < min_tumor_cells:
            reason = f"only {int(metrics['n_tumor'])} tumour cells (< min_tumor_cells={min_tumor_cells})"
        elif not extra["has_tumour_region"] or metrics["area_core_mm2"] + metrics["area_margin_mm2"] < min_tumor_area:
            reason = f"tumour region smaller than min_tumor_area={min_tumor_area} mm^2"
        elif call == "indeterminate":
            reason = f"a metric {list(rule.reads)} could not be computed"
        if reason:
            call, confidence = "indeterminate", 0.0
        else:
            confidence = _bootstrap_confidence(frame, metrics_from_sums, rule, limits, call, gen=gen, n_boot=n_boot)
        rows.append({
            "sample": name, "phenotype": call, "confidence": confidence, "rules": rules, "mode": "spatial",
            "inferred": False, "reason": reason, **{f"threshold_{k}": v for k, v in limits.items()}, **metrics, **extra,
        })  # fmt: skip
    params = {
        "mode": mode, "rules": rules, "description": rule.description, "source": rule.source,
        "n_boot": int(n_boot), "min_tumor_cells": int(min_tumor_cells), "min_tumor_area": float(min_tumor_area),
        "contact_radius_um": float(contact_radius), "library_key": library_key or "",
    }  # fmt: skip
    return _store(adata, rows, params, library_key=library_key, key_added=key_added)


def _store(
    adata: AnnData, rows: list[dict[str, Any]], params: dict[str, Any], *, library_key: str | None, key_added: str
) -> pd.DataFrame:
    """Write the per-sample table to uns and each sample's call to obs; return the table."""
    table = pd.DataFrame(rows).set_index("sample")
    table["phenotype"] = pd.Categorical(table["phenotype"], categories=list(PHENOTYPES))
    adata.uns[key_added] = {
        "table": table.assign(phenotype=table["phenotype"].astype(str)),
        "params": params,
    }
    sample_of = np.empty(adata.n_obs, dtype=object)
    for name, idx in samples(adata, library_key=library_key):
        sample_of[idx] = name
    adata.obs[key_added] = pd.Categorical(
        table["phenotype"].astype(str).reindex(sample_of).to_numpy(), categories=list(PHENOTYPES)
    )
    return table


def _classify_spots(
    adata: AnnData,
    *,
    rule: PhenotypeRule,
    limits: dict[str, float],
    library_key: str | None,
    content_key: str,
    groups: dict[str, Any],
    spatial_key: str,
    microns_per_unit: float | None,
    min_tumor_spots: int,
    n_boot: int,
    rng: np.random.Generator | int | None,
    key_added: str,
) -> pd.DataFrame:
    """Spot data: compartments on the spot graph, mean group fractions per compartment, the spot rule."""
    if COMPARTMENT_KEY not in adata.obs:
        compartments(
            adata, mode="spots", content_key=content_key, tumor_labels=groups["tumor"], library_key=library_key,
            spatial_key=spatial_key, microns_per_unit=microns_per_unit,
        )  # fmt: skip
    per_sample = adata.uns.get(COMPARTMENT_KEY, {}).get("samples", {})
    tables = spot_tables(
        adata, content_key=content_key, groups=groups, compartment_key=COMPARTMENT_KEY, library_key=library_key
    )
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rows: list[dict[str, Any]] = []
    for name, frame in tables.items():
        point = spot_metrics(frame.sum().to_frame().T)
        call = str(rule.decide(point, limits)[0])
        metrics = point.iloc[0].to_dict()
        extra = dict(per_sample.get(name, {}))
        n_tumour = int(extra.get("n_tumor_spots", 0))
        reason = ""
        if n_tumour < min_tumor_spots:
            reason = f"only {n_tumour} tumour spots (< min_tumor_spots={min_tumor_spots})"
        elif call == "indeterminate":
            reason = f"a metric {list(rule.reads)} could not be computed (e.g. no tumour-core spots)"
        if reason:
            call, confidence = "indeterminate", 0.0
        else:
            confidence = _bootstrap_confidence(frame, spot_metrics, rule, limits, call, gen=gen, n_boot=n_boot)
        rows.append({
            "sample": name, "phenotype": call, "confidence": confidence, "rules": rule.name, "mode": "spatial",
            "data": "spots", "inferred": False, "reason": reason, **{f"threshold_{k}": v for k, v in limits.items()},
            **metrics, **extra,
        })  # fmt: skip
    params = {
        "mode": "spatial", "data": "spots", "rules": rule.name, "description": rule.description,
        "source": rule.source, "n_boot": int(n_boot), "min_tumor_spots": int(min_tumor_spots),
        "content_key": content_key, "library_key": library_key or "",
        "bootstrap": "spots resampled with replacement",
    }  # fmt: skip
    return _store(adata, rows, params, library_key=library_key, key_added=key_added)
