"""Rule sets: what a phenotype framework is, its registry, and the one writer every mode stores calls with.

A framework: classes, the metrics it reads, thresholds with their sources, and its decision.

A new framework is one module beside this one that builds a :class:`PhenotypeRule` and registers it
(``register_rule``), plus its import in ``tmekit/tl/_phenotype/__init__.py``; see ``cd8_density.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._constants import PHENOTYPE_CALLS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from anndata import AnnData

__all__ = ["CALLS", "INPUTS", "RULES", "PhenotypeRule", "Plane", "combine", "register_rule", "resolve", "store"]

#: The calls of the inflamed / excluded / desert scheme, and ``indeterminate`` (no call: too little evidence).
CALLS = PHENOTYPE_CALLS


@dataclass(frozen=True)
class Plane:
    """The two metrics a rule set is drawn on (``tk.pl.infiltration``), with the thresholds as lines."""

    x: str
    y: str
    x_label: str
    y_label: str
    x_line: Callable[[Mapping[str, float]], float]
    y_line: Callable[[Mapping[str, float]], float]


#: Inputs a rule set may need beyond cell types and positions, and how a user gives them to ``tk.tl.classify``.
INPUTS = {
    "t_labels": "the `t` labels (all CD3+ T cells: `tk.pp.cell_types(adata, ..., t=[...])` or "
    "`cell_types={'t': [...]}`)",
    "pdl1": "the `pdl1` status (an obs column of PD-L1 status or intensity, or a channel / gene of X such as CD274: "
    "`tk.pp.cell_types(adata, ..., pdl1=...)` or `cell_types={'pdl1': ...}`)",
    "percentile_reference": "`immunoscore_reference=` (CT/IM densities of reference tumours) or `cohort_relative=True`",
}


@dataclass(frozen=True)
class PhenotypeRule:
    """A named decision rule on per-sample metrics, with thresholds and their sources.

    ``decide(metrics, thresholds)`` returns one of ``classes`` (or ``"indeterminate"``) per row of ``metrics`` (a
    sample's own metrics or a resampled replicate); ``reads`` are the metrics it uses (a measurement factor
    scales them in the confidence); ``data`` is ``"cells"`` (single-cell positions) or ``"spots"`` (Visium-like
    spot content). Optional parts: ``needs`` (keys of ``INPUTS``: ``t_labels``, ``pdl1``,
    ``percentile_reference``); ``derive(metrics, *, rows, weights, factor, thresholds, context)``, more metrics
    per replicate (one row of ``metrics`` per row of ``weights``, the resampling counts of the sample's tiles
    ``rows``; ``factor`` the replicate's measurement factors), e.g.
    percentiles against ``context["percentile_reference"]`` or tile-level shares; ``aliases``, other names of
    the classes (a column ``alias``); ``hints``, why a metric can be missing.
    """

    name: str
    description: str
    source: str
    thresholds: dict[str, float]
    reads: tuple[str, ...]
    decide: Callable[[pd.DataFrame, Mapping[str, float]], np.ndarray] = field(repr=False)
    data: str = "cells"
    plane: Plane | None = field(default=None, repr=False)
    classes: tuple[str, ...] = ("inflamed", "excluded", "desert")
    needs: tuple[str, ...] = ()
    derive: Callable[..., pd.DataFrame] | None = field(default=None, repr=False)
    aliases: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> tuple[str, ...]:
        """Every value a call can take: the classes and ``"indeterminate"``."""
        return (*self.classes, "indeterminate")


#: The registered rule sets by name (``tk.tl.classify(rules=name)``); :func:`register_rule` adds one.
RULES: dict[str, PhenotypeRule] = {}


def core_then_margin(core: np.ndarray, margin: np.ndarray, core_limit: float, margin_limit: float) -> np.ndarray:
    """Inflamed above the core limit; else excluded above the margin limit; else desert (NaN: indeterminate)."""
    core, margin = np.asarray(core, dtype=np.float64), np.asarray(margin, dtype=np.float64)
    inflamed = core > core_limit
    out = np.where(inflamed, "inflamed", np.where(margin > margin_limit, "excluded", "desert")).astype(object)
    out[np.isnan(core) | (np.isnan(margin) & ~inflamed)] = "indeterminate"
    return out


def register_rule(rule: PhenotypeRule) -> PhenotypeRule:
    """Add a rule set to the registry (``tk.tl.classify(rules=rule.name)``).

    Parameters
    ----------
    rule
        The rule set; a rule of the same name is replaced. Its ``needs`` must be inputs ``classify`` knows.

    Returns
    -------
    ``rule``, registered in :data:`tmekit.tl.RULES`.

    Examples
    --------
    A stricter CD8-density rule, built from the shipped one:

    >>> import dataclasses
    >>> strict = dataclasses.replace(
    ...     tk.tl.RULES["cd8_density"],
    ...     name="cd8_strict",
    ...     thresholds={"core_cd8_per_mm2": 300.0, "margin_cd8_per_mm2": 300.0},
    ... )
    >>> _ = tk.tl.register_rule(strict)
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, rules="cd8_strict", library_key="patient_id", microns_per_unit=800 / 2048)
    >>> tk.get.phenotypes(adata)["phenotype"].tolist()
    ['excluded', 'excluded', 'excluded', 'excluded']
    >>> del tk.tl.RULES["cd8_strict"]  # the registry is global: leave it as it was
    """
    unknown = sorted(set(rule.needs) - set(INPUTS))
    if unknown:
        msg = f"Rule set {rule.name!r} needs unknown inputs {unknown}; known: {sorted(INPUTS)}."
        raise ValueError(msg)
    RULES[rule.name] = rule
    return rule


def resolve(
    rules: str | Sequence[str] | None, *, spots: bool, thresholds: Mapping[str, float] | None, given: Mapping[str, bool]
) -> list[PhenotypeRule]:
    """The rule sets a call applies, checked: known, made for this kind of data, thresholds theirs, inputs given.

    ``rules``: a name, a comma-separated string or a list (``None``: ``spot_cd8`` for spots, else ``cd8_density``);
    ``given``: which of :data:`INPUTS` the caller supplied.
    """
    names = [rules] if isinstance(rules, str) else list(rules or [])
    names = [n.strip() for name in names for n in name.split(",") if n.strip()] or [
        "spot_cd8" if spots else "cd8_density"
    ]
    unknown = [n for n in names if n not in RULES]
    if unknown:
        msg = f"Unknown rule set(s) {unknown}. Available: {sorted(RULES)}."
        raise ValueError(msg)
    if len(set(names)) < len(names):
        msg = f"Rule sets {names} name one more than once; give each once."
        raise ValueError(msg)
    chosen = [RULES[n] for n in names]
    for rule in chosen:
        if (rule.data == "spots") != spots:
            fit = sorted(r for r, v in RULES.items() if v.data == ("spots" if spots else "cells"))
            kind = "spot data (no cell types to count)" if spots else "single cells with cell types"
            msg = f"Rule set {rule.name!r} is for {rule.data}, but this is {kind}: use one of {fit}."
            raise ValueError(msg)
        missing = [INPUTS[k] for k in rule.needs if not given.get(k)]
        if missing:
            msg = f"Rule set {rule.name!r} needs {' and '.join(missing)}."
            raise ValueError(msg)
    known = {k for rule in chosen for k in rule.thresholds}
    unknown = sorted(set(thresholds or {}) - known)
    if unknown:
        msg = f"Unknown thresholds {unknown} for rule sets {names}; they use {sorted(known)}."
        raise ValueError(msg)
    return chosen


#: Columns of a rule set's own call, repeated per framework as ``<column>_<rule>`` in a spatial table.
FRAMEWORK_COLUMNS = ("phenotype", "confidence", "reason", "alias")


def combine(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One table from the tables of one or more rule sets (same samples).

    The first rule set's call leads (``phenotype``, ``confidence``, ``reason``); every rule set's call follows as
    ``phenotype_<rule>``, ``confidence_<rule>``, ``reason_<rule>`` (and ``alias_<rule>``); then the evidence
    (thresholds, metrics) once, and ``rules``, the rule sets applied.
    """
    names = list(tables)
    first = tables[names[0]]
    lead = first[[c for c in FRAMEWORK_COLUMNS if c in first.columns]]
    own = pd.DataFrame(
        {f"{c}_{n}": t[c] for n, t in tables.items() for c in FRAMEWORK_COLUMNS if c in t.columns}, index=first.index
    )
    evidence = first.drop(columns=list(lead.columns))
    for table in list(tables.values())[1:]:
        evidence = evidence.join(table[[c for c in table.columns if c not in evidence and c not in FRAMEWORK_COLUMNS]])
    evidence["rules"] = ",".join(names)
    return pd.concat([lead, own, evidence], axis=1)


def store(
    adata: AnnData,
    table: pd.DataFrame,
    params: dict[str, Any],
    *,
    sample_of: np.ndarray,
    key_added: str,
    calls: Mapping[str, tuple[str, ...]] | None = None,
) -> None:
    """Write the per-sample table and parameters to ``uns[key_added]`` and each cell's call to ``obs[key_added]``.

    The same layout for every mode (``{"table", "params"}``); ``sample_of`` names each observation's sample.
    ``calls``: the values each rule set's call can take (first: ``phenotype``); with more than one rule set each
    also gets ``obs[f"{key_added}_{rule}"]``.
    """
    if calls:  # the rule sets' own classes (expression calls use CALLS)
        params = {**params, "calls": {k: list(v) for k, v in calls.items()}}
    calls = dict(calls or {"phenotype": CALLS})
    names = list(calls)
    adata.uns[key_added] = {"table": table.assign(phenotype=table["phenotype"].astype(str)), "params": params}
    where = np.asarray(sample_of, dtype=str)
    columns = {key_added: ("phenotype", calls[names[0]])}
    if len(names) > 1:
        columns.update({f"{key_added}_{n}": (f"phenotype_{n}", calls[n]) for n in names})
    for column, (source, categories) in columns.items():
        values = table[source].astype(str)
        values.index = values.index.astype(str)
        adata.obs[column] = pd.Categorical(values.reindex(where).to_numpy(), categories=list(categories))
