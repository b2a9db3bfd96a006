"""One self-contained HTML cohort report: calls, evidence, score distributions, maps, provenance, warnings."""

from __future__ import annotations

import base64
import datetime as dt
import html as _html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import pandas as pd

from tmekit import get
from tmekit._constants import (
    ASSOCIATION_KEY,
    COMPARTMENT_KEY,
    HEADLINE_SIGNATURES,
    PHENOTYPE_KEY,
    SCORES_KEY,
    TCELL_STATES_KEY,
)
from tmekit._sample_table import SAMPLE_TABLE_CSS, evidence_table, sample_table
from tmekit._spatialdata import as_anndata
from tmekit._version import __version__
from tmekit.io import atomic_write_text
from tmekit.pl import (
    associations,
    compartments,
    immunoscore,
    infiltration,
    phenotypes,
    response_rates,
    score_groups,
    score_violin,
    survival,
    tcell_states,
    teff_ftbrs,
    til_pdl1,
)
from tmekit.tl import RULES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from anndata import AnnData
    from matplotlib.figure import Figure

__all__ = ["SECTIONS", "cohort_table", "html"]

#: Section ids, in page order (every report has all of them; a section without content says why).
SECTIONS = (
    "overview",
    "frameworks",
    "tcell_states",
    "evidence",
    "scores",
    "spatial",
    "expression",
    "association",
    "provenance",
    "warnings",
)
_MAX_BARS = 40  # Immunoscore bars: samples drawn
_MAX_MAPS = 12
_MIN_MAP_CELLS = 3  # fewer cells than this make no map: the sample is listed as not drawn

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 2rem;
color:#222;line-height:1.45}
h1{border-bottom:3px solid #b2182b;padding-bottom:.3rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.2rem .5rem;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.scroll{overflow-x:auto;max-height:32rem}.note{color:#555;font-size:.9rem}figure{margin:.8rem 0}
img{max-width:100%;height:auto;border:1px solid #eee}.warn{background:#fff8e1;border-left:4px solid #f0ad4e;
padding:.4rem .8rem;margin:.3rem 0}.grid{display:flex;flex-wrap:wrap;gap:1rem}.grid figure{width:31%}
.tag{display:inline-block;padding:0 .4rem;border-radius:.3rem;color:#fff}
.inflamed{background:#d6604d}.excluded{background:#4393c3}.desert{background:#878787}
.indeterminate{background:#d9b300}.other{background:#666}
"""


def _figure(fig: Figure, caption: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{_html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption class='note'>{_html.escape(caption)}</figcaption></figure>"
    )


def _table(frame: pd.DataFrame, *, digits: int = 3) -> str:
    body = frame.to_html(float_format=lambda v: f"{v:.{digits}g}", border=0, na_rep="", escape=True)
    return f"<div class='scroll'>{body}</div>"


def _section(sid: str, title: str, content: str) -> str:
    return f'<section id="{sid}"><h2>{_html.escape(title)}</h2>{content}</section>'


def _calls(objects: Mapping[str, AnnData]) -> pd.DataFrame:
    rows = []
    for name, adata in objects.items():
        if PHENOTYPE_KEY not in adata.uns:
            continue
        table = get.phenotypes(adata)
        table.insert(0, "dataset", name)
        table.index = [f"{name}:{i}" if len(objects) > 1 else str(i) for i in table.index]
        rows.append(table)
    return pd.concat(rows) if rows else pd.DataFrame()


def cohort_table(adatas: Mapping[str, AnnData]) -> pd.DataFrame:
    """Every classified sample of ``{name: AnnData}`` in one table (``dataset`` column first; index ``dataset:sample``).

    Reads each object's calls with :func:`tmekit.get.phenotypes`.

    Parameters
    ----------
    adatas
        ``{name: AnnData}`` (or SpatialData), each classified.

    Returns
    -------
    DataFrame, one row per sample of every object: ``dataset`` first, then the columns of
    :func:`tmekit.get.phenotypes`. With one object the index is the sample names.

    Examples
    --------
    >>> mibi, bulk = tk.datasets.keren2018_mibi(), tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify(mibi, library_key="patient_id", microns_per_unit=800 / 2048)
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> table = tk.report.cohort_table({"mibi": mibi, "bladder": bulk})
    >>> table["dataset"].value_counts().to_dict()
    {'bladder': 348, 'mibi': 4}
    >>> table.index[0]
    'mibi:1'
    """
    return _calls({name: as_anndata(a) for name, a in adatas.items()})


def _overview(calls: pd.DataFrame) -> str:
    if calls.empty:
        return "<p class='note'>No sample was classified (run <code>tk.tl.classify</code> first).</p>"
    cols = [c for c in ("dataset", "phenotype", "confidence", "mode", "inferred", "rules", "model", "reason")
            if c in calls.columns]  # fmt: skip
    counts = calls["phenotype"].astype(str).value_counts()
    known = ("inflamed", "excluded", "desert", "indeterminate")
    shown = [*known, *(p for p in counts.index if p not in known)]  # other frameworks' classes, when they lead
    summary = " ".join(f"<span class='tag {p if p in known else 'other'}'>{_html.escape(p)}: {counts.get(p, 0)}</span>"
                       for p in shown)  # fmt: skip
    text = (
        f"<p>{len(calls)} samples. {summary}</p><p class='note'>Spatial calls read cell positions; expression calls "
        "are inferred from bulk or pseudobulk expression (<code>inferred=True</code>) and cannot see where immune "
        "cells are. Confidence: spatial = share of tile-bootstrap replicates giving the same call; expression = "
        "top class probability x gene coverage.</p>"
    )
    per_dataset = pd.crosstab(calls["dataset"], calls["phenotype"].astype(str))
    per_dataset["mean confidence"] = calls.groupby("dataset")["confidence"].mean()
    _, ax = plt.subplots(figsize=(8, 4))
    figure = _figure(phenotypes(calls, ax=ax), "Call (colour) and confidence (height) per sample")
    return text + _table(per_dataset) + figure + sample_table(calls, cols)


def _frameworks(calls: pd.DataFrame) -> str:
    """One part per rule set applied: what it is, its calls per dataset, and its evidence drawn."""
    applied = [c.removeprefix("phenotype_") for c in calls.columns if c.startswith("phenotype_")]
    applied = [r for r in applied if r in RULES]
    if not applied:
        return "<p class='note'>No spatial rule set applied (expression calls are in the overview).</p>"
    parts = []
    for name in applied:
        rule = RULES[name]
        table = calls[calls[f"phenotype_{name}"].notna()]
        table = table[table["rules"].astype(str).str.split(",").map(lambda r, n=name: n in r)]
        counts = pd.crosstab(table["dataset"], table[f"phenotype_{name}"].astype(str))
        counts["mean confidence"] = table.groupby("dataset")[f"confidence_{name}"].mean()
        text = (f"<h3>{_html.escape(name)}</h3><p class='note'>{_html.escape(rule.description)} "
                f"Source: {_html.escape(rule.source)}.</p>")  # fmt: skip
        figures = []
        for rules in pd.unique(table["rules"].astype(str)):  # one figure per set of rules applied together
            same = table[table["rules"].astype(str) == rules]
            if name.startswith("til_pdl1"):
                figures.append(_figure(til_pdl1(same, rules=name), f"{name}: TIL density vs PD-L1 score"))
            elif name == "immunoscore":
                shown = same.iloc[:_MAX_BARS]
                note = f" (first {_MAX_BARS} of {len(same)})" if len(same) > _MAX_BARS else ""
                figures.append(_figure(immunoscore(shown), f"Immunoscore percentiles per sample{note}"))
            elif rule.plane is not None:
                figures.append(_figure(infiltration(same, rules=name), f"{name}: the evidence against its cuts"))
        parts.append(text + _table(counts) + "".join(figures))
    return "".join(parts)


def _tcell_states(objects: Mapping[str, AnnData]) -> str:
    """Per-sample CD8 T-cell states of every object that has them (``tk.tl.tcell_states``)."""
    tables = []
    for name, adata in objects.items():
        if TCELL_STATES_KEY in adata.uns:
            table = get.tcell_states(adata)
            table.index = [f"{name}:{i}" if len(objects) > 1 else str(i) for i in table.index]
            tables.append(table.assign(dataset=name))
    if not tables:
        return "<p class='note'>No T-cell states (run <code>tk.tl.tcell_states</code>).</p>"
    table = pd.concat(tables)
    cols = [
        "dataset",
        "n_cd8",
        "frac_progenitor_exhausted",
        "frac_terminal_exhausted",
        "frac_effector_memory",
        "frac_cxcl13",
        "progenitor_terminal_ratio",
        "memory_exhausted_ratio",
        "hypoxia_tumor",
        "status",
    ]
    text = ("<p class='note'>Progenitor exhausted (PD-1+ TCF-1+ TIM-3-), terminal exhausted (PD-1+ TIM-3+), "
            "effector/memory (TCF7 / IL7R without PD-1) per CD8 T cell; CXCL13+ flagged apart (a lower bound). "
            "Samples with too few CD8 T cells are indeterminate.</p>")  # fmt: skip
    return text + _figure(tcell_states(table), "CD8 T-cell states per sample") + _table(table[cols])


def _evidence(calls: pd.DataFrame) -> str:
    if calls.empty:
        return "<p class='note'>No classification, so no evidence table.</p>"
    skip = {"phenotype", "confidence", "mode", "inferred", "rules", "model", "reason", "dataset", "input_scale"}
    own = ("confidence_", "phenotype_", "reason_", "alias_")
    numeric = [c for c in calls.columns if c not in skip and not c.startswith(own)
               and pd.api.types.is_numeric_dtype(calls[c])]  # fmt: skip
    note = "<p class='note'>Every metric or feature the call read, per sample (the sample links back to its call).</p>"
    return note + evidence_table(calls, numeric)


def _scores(objects: Mapping[str, AnnData], groupby: Mapping[str, str]) -> str:
    parts = []
    headline = list(HEADLINE_SIGNATURES.values())
    for name, adata in objects.items():
        if SCORES_KEY not in adata.obsm:
            continue
        scored = [s for s in headline if s in get.scores(adata).columns]
        key = groupby.get(name)
        if not scored or key is None or key not in adata.obs:
            parts.append(f"<p class='note'>{_html.escape(name)}: scores present, no grouping column to summarise.</p>")
            continue
        _, ax = plt.subplots(figsize=(7, 0.35 * adata.obs[key].nunique() + 2.5))
        parts.append(_figure(score_groups(adata, groupby=key, signatures=scored, ax=ax),
                             f"{name}: mean headline-module score by {key}"))  # fmt: skip
        violins = []
        for sig in scored:
            _fig, ax = plt.subplots(figsize=(5, 4))
            violins.append(_figure(score_violin(adata, sig, groupby=key, ax=ax), f"{name}: {sig} by {key}"))
        parts.append("<div class='grid'>" + "".join(violins) + "</div>")
    if not parts:
        return "<p class='note'>No per-cell scores in these objects (run <code>tk.tl.score</code>).</p>"
    return (
        "<p class='note'>The five headline modules (exhaustion, M2 TAM, CXCL13+ T, IFN-gamma, hypoxia).</p>"
        + "".join(parts)
    )


def _spatial(objects: Mapping[str, AnnData]) -> str:
    maps, skipped = [], []
    for name, adata in objects.items():
        if COMPARTMENT_KEY not in adata.obs or COMPARTMENT_KEY not in adata.uns:
            continue
        per_sample = get.compartments(adata)
        sizes = per_sample["n_cells"] if "n_cells" in per_sample else per_sample["n_spots"]
        for sample in list(per_sample.index)[:_MAX_MAPS]:
            n_cells = int(sizes[sample])
            if n_cells < _MIN_MAP_CELLS:
                skipped.append(f"{name} {sample} ({n_cells} cell{'' if n_cells == 1 else 's'})")
                continue
            _fig, ax = plt.subplots(figsize=(5, 5))
            maps.append(_figure(compartments(adata, sample, ax=ax), f"{name} {sample}: compartments and boundary"))
        if len(per_sample) > _MAX_MAPS:
            skipped.append(f"{name}: {len(per_sample) - _MAX_MAPS} more samples (the first {_MAX_MAPS} are drawn)")
    if not maps and not skipped:
        return "<p class='note'>No spatial samples in this cohort.</p>"
    note = f"<p class='note'>Not drawn: {_html.escape('; '.join(skipped))}.</p>" if skipped else ""
    return note + "<div class='grid'>" + "".join(maps) + "</div>"


def _expression(calls: pd.DataFrame) -> str:
    if calls.empty or "mode" not in calls or not (calls["mode"] == "expression").any():
        return "<p class='note'>No expression-based calls in this cohort.</p>"
    table = calls[calls["mode"] == "expression"]
    if table[["score_cd8_teff", "score_pan_ftbrs"]].isna().all().any():
        return "<p class='note'>Too few CD8 T-effector or pan-F-TBRS genes measured to draw the plane.</p>"
    return _figure(teff_ftbrs(table), "Expression samples on the CD8 T-effector vs pan-F-TBRS plane (Mariathasan 2018)")


def _association(objects: Mapping[str, AnnData]) -> str:
    """Forest plots, response rates and Kaplan-Meier curves of the association stored by ``tk.tl.associate``."""
    stored = next((a.uns[ASSOCIATION_KEY] for a in objects.values() if ASSOCIATION_KEY in a.uns), None)
    if stored is None:
        return ("<p class='note'>No outcome tested: give a clinical table (<code>tmekit report ... --clinical "
                "clin.csv --response col</code> or <code>--duration/--event</code>), or run "
                "<code>tk.tl.associate(features, clinical, ..., adata=adata)</code> first.</p>")  # fmt: skip
    table, params, ids = pd.DataFrame(stored["table"]), stored.get("params", {}), stored.get("ids", {})
    table.attrs = {}
    lost = len(ids.get("unmatched_features", [])), len(ids.get("unmatched_clinical", []))
    family = _html.escape(str(params.get("q", "")))
    parts = [f"<p class='note'>{ids.get('matched', '?')} ids matched the clinical table ({lost[0]} feature rows and "
             f"{lost[1]} clinical rows without a partner). q: {family}.</p>"]  # fmt: skip
    for test in ("auc", "cox"):
        if ((table["test"] == test) & (table["status"] == "ok")).any():
            parts.append(_figure(associations(table, test=test), f"Effect per feature ({test}), 95% CI"))
    rates = pd.DataFrame(stored.get("rates", []))
    for feature in list(dict.fromkeys(rates["feature"]))[:3] if len(rates) else []:
        parts.append(_figure(response_rates(rates, feature=feature), f"Response rate by {feature}"))
    data = stored.get("data")
    duration, event = params.get("duration"), params.get("event")
    if isinstance(data, pd.DataFrame) and duration and event:
        cox = table[(table["test"].isin(["cox", "logrank"])) & (table["status"] == "ok")].sort_values("p")
        times, flags = f"outcome:{duration}", f"outcome:{event}"
        for feature in list(cox["feature"])[:3]:
            fig = survival(data[[feature]], data[[times, flags]], feature=feature, duration=times, event=flags)
            parts.append(_figure(fig, f"Kaplan-Meier by {feature} (continuous: split at the median)"))
    shown = table.sort_values("p", na_position="last").head(40)
    return "".join(parts) + _table(shown.set_index("feature"))


def _provenance(objects: Mapping[str, AnnData]) -> str:
    rows: dict[str, dict[str, Any]] = {}
    models = {}
    for adata in objects.values():
        if SCORES_KEY in adata.uns:
            for sig, info in get.signatures_scored(adata).iterrows():
                rows[str(sig)] = {k: info[k] for k in ("citation", "doi", "pmid", "version", "n_genes", "n_found")}
                rows[str(sig)]["sha256"] = str(info["sha256"])[:12]
        if PHENOTYPE_KEY not in adata.uns:
            continue
        params = get.phenotype_params(adata)
        if params.get("model_provenance"):
            models[params["model"]] = json.loads(params["model_provenance"])
        elif params.get("mode") == "spatial":
            models[f"spatial rules {params.get('rules')}"] = {"source": params.get("source", "")}
    text = f"<p>tmekit {__version__}; report written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>"
    if rows:
        text += "<h3>Signatures scored</h3>" + _table(pd.DataFrame.from_dict(rows, orient="index"))
    for name, prov in models.items():
        cv = prov.get("cv", {})
        detail = (f"cross-validated balanced accuracy {cv['balanced_accuracy_mean']:.3f} +/- "
                  f"{cv['balanced_accuracy_sd']:.3f} ({cv['design']})") if cv else prov.get("source", "")  # fmt: skip
        data = _html.escape(str(prov.get("data", "")))
        text += f"<h3>{_html.escape(name)}</h3><p class='note'>{data} {_html.escape(detail)}</p>"
    return text


def _warnings(objects: Mapping[str, AnnData], calls: pd.DataFrame, extra: Iterable[str]) -> str:
    notes = [str(w) for w in extra]
    for name, adata in objects.items():
        if SCORES_KEY in adata.uns:
            for sig, missing in get.signatures_scored(adata)["genes_missing"].items():
                if missing:
                    notes.append(
                        f"{name}: signature {sig} scored without {len(missing)} genes ({', '.join(missing[:8])})"
                    )
        if PHENOTYPE_KEY in adata.uns:
            for feature, genes in dict(get.phenotype_params(adata).get("missing_genes", {})).items():
                notes.append(f"{name}: phenotype feature {feature} computed without {', '.join(list(genes)[:8])}")
    if not calls.empty:
        for sample, row in calls[calls["phenotype"].astype(str) == "indeterminate"].iterrows():
            notes.append(f"{sample} is indeterminate: {row.get('reason', '')}")
    if not notes:
        return "<p class='note'>No warnings.</p>"
    unique = list(dict.fromkeys(notes))
    return "".join(f"<div class='warn'>{_html.escape(n)}</div>" for n in unique)


def html(
    adatas: AnnData | Sequence[AnnData] | Mapping[str, AnnData],
    path: str | Path | None = None,
    *,
    title: str = "tmekit cohort report",
    groupby: str | Mapping[str, str] | None = None,
    warnings: Iterable[str] = (),
    overwrite: bool = False,
) -> str:
    """Build one self-contained HTML report (figures embedded as PNG) for a cohort of scored/classified objects.

    Sections (ids in ``SECTIONS``): cohort overview (phenotype and confidence per sample), one part per
    framework applied (its description, source, calls per dataset and its evidence plot), the evidence
    table (every metric the calls read), headline-module score distributions per group, spatial maps of
    compartments, the CD8 T-effector vs pan-F-TBRS plane for expression samples, signature and model
    provenance with the tmekit version, and the warnings (missing genes, indeterminate samples, and any
    passed in ``warnings``). Nothing is downloaded when the page is opened.

    Parameters
    ----------
    adatas
        One AnnData, a list, or ``{name: AnnData}``; each after ``tk.tl.score`` and/or ``tk.tl.classify``. A
        SpatialData stands for its (only) table, with the positions of the elements it annotates.
    path
        Where to write the page (atomically); ``None`` only returns it.
    title
        Page title.
    groupby
        ``obs`` column (or ``{name: column}``) to group per-cell scores by, e.g. cell type; default:
        ``"tmekit_cell_type"`` when present.
    warnings
        Extra messages for the warnings section (e.g. those caught while scoring).
    overwrite
        Replace an existing file at ``path``.

    Returns
    -------
    The HTML text.

    Examples
    --------
    >>> mibi = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(mibi, library_key="patient_id", microns_per_unit=800 / 2048)
    >>> page = tk.report.html({"mibi": mibi}, "report.html", title="Four MIBI tumours")
    >>> "<title>Four MIBI tumours</title>" in page
    True
    """
    if isinstance(adatas, dict):
        objects = {name: as_anndata(a) for name, a in adatas.items()}
    elif isinstance(adatas, list | tuple):
        objects = {f"dataset{i + 1}": as_anndata(a) for i, a in enumerate(adatas)}
    else:
        objects = {"dataset": as_anndata(adatas)}
    given = (
        list(adatas.values()) if isinstance(adatas, dict) else list(adatas) if isinstance(adatas, list | tuple) else []
    )
    twice = [name for name, a in zip(objects, given, strict=False) if sum(b is a for b in given) > 1]
    if twice:
        msg = (
            f"The same object is given more than once ({twice}): every table and figure of the report would count "
            "its samples that many times. Give each dataset once."
        )
        raise ValueError(msg)
    if isinstance(groupby, str) or groupby is None:
        column = groupby or "tmekit_cell_type"
        groups = dict.fromkeys(objects, column)
    else:
        groups = dict(groupby)
    calls = _calls(objects)
    body = {
        "overview": ("Cohort overview", _overview(calls)),
        "frameworks": ("Frameworks applied", _frameworks(calls)),
        "tcell_states": ("CD8 T-cell states", _tcell_states(objects)),
        "evidence": ("Evidence", _evidence(calls)),
        "scores": ("Score distributions", _scores(objects, groups)),
        "spatial": ("Spatial maps", _spatial(objects)),
        "expression": ("Expression samples: T-effector vs TGF-beta plane", _expression(calls)),
        "association": ("Association with outcome", _association(objects)),
        "provenance": ("Provenance", _provenance(objects)),
        "warnings": ("Warnings", _warnings(objects, calls, warnings)),
    }
    nav = " | ".join(f'<a href="#{sid}">{_html.escape(t)}</a>' for sid, (t, _) in body.items())
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_CSS}{SAMPLE_TABLE_CSS}</style>"
        "</head><body>"
        f"<h1>{_html.escape(title)}</h1><nav class='note'>{nav}</nav>"
        + "".join(_section(sid, t, content) for sid, (t, content) in body.items())
        + "</body></html>\n"
    )
    if path is not None:
        atomic_write_text(Path(path), page, overwrite=overwrite)
    return page
