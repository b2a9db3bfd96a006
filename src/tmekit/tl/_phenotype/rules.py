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
    from collections.abc import Callable, Mapping

    from anndata import AnnData

__all__ = ["CALLS", "RULES", "PhenotypeRule", "Plane", "register_rule", "store"]

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


@dataclass(frozen=True)
class PhenotypeRule:
    """A named decision rule on per-sample metrics, with thresholds and their sources.

    ``decide(metrics, thresholds)`` returns one call of :data:`CALLS` per row of ``metrics`` (a sample's own
    metrics or a resampled replicate); ``reads`` are the metrics it uses; ``data`` is ``"cells"`` (single-cell
    positions) or ``"spots"`` (Visium-like spot content).
    """

    name: str
    description: str
    source: str
    thresholds: dict[str, float]
    reads: tuple[str, ...]
    decide: Callable[[pd.DataFrame, Mapping[str, float]], np.ndarray] = field(repr=False)
    data: str = "cells"
    plane: Plane | None = field(default=None, repr=False)


RULES: dict[str, PhenotypeRule] = {}


def core_then_margin(core: np.ndarray, margin: np.ndarray, core_limit: float, margin_limit: float) -> np.ndarray:
    """Inflamed above the core limit; else excluded above the margin limit; else desert (NaN: indeterminate)."""
    core, margin = np.asarray(core, dtype=np.float64), np.asarray(margin, dtype=np.float64)
    inflamed = core > core_limit
    out = np.where(inflamed, "inflamed", np.where(margin > margin_limit, "excluded", "desert")).astype(object)
    out[np.isnan(core) | (np.isnan(margin) & ~inflamed)] = "indeterminate"
    return out


def register_rule(rule: PhenotypeRule) -> PhenotypeRule:
    """Add a rule set to the registry (``tk.tl.classify(rules=rule.name)``)."""
    RULES[rule.name] = rule
    return rule


def store(
    adata: AnnData, table: pd.DataFrame, params: dict[str, Any], *, sample_of: np.ndarray, key_added: str
) -> None:
    """Write the per-sample table and parameters to ``uns[key_added]`` and each cell's call to ``obs[key_added]``.

    The same layout for every mode (``{"table", "params"}``); ``sample_of`` names each observation's sample.
    """
    table = table.copy()
    table["phenotype"] = pd.Categorical(table["phenotype"].astype(str), categories=list(CALLS))
    adata.uns[key_added] = {"table": table.assign(phenotype=table["phenotype"].astype(str)), "params": params}
    calls = table["phenotype"].astype(str)
    calls.index = calls.index.astype(str)
    adata.obs[key_added] = pd.Categorical(
        calls.reindex(np.asarray(sample_of, dtype=str)).to_numpy(), categories=list(CALLS)
    )
