"""Cell-type roles, declared once per object and read by every function that needs them.

Which labels of which ``obs`` column are tumour, immune (all leukocytes), CD8 T and T (CD3+) cells, and where
each cell's PD-L1 status is (an obs column or channel of ``X``, or the list of PD-L1+ labels of ``key``):
:func:`tmekit.pp.cell_types` writes them to ``uns["tmekit_cell_types"]`` (and :func:`tmekit.tl.annotate` does for
its own labels). :func:`tmekit.sp.compartments`, :func:`tmekit.sp.tile_table`,
:func:`tmekit.sp.infiltration`, :func:`tmekit.sp.spot_table`, :func:`tmekit.tl.classify`,
:func:`tmekit.tl.tcell_states`, the plots and the command line read them through :func:`roles`, and each takes one
override, ``cell_types={...}``, with the same keys (entries given there win; a different ``key`` drops the stored
labels, which belong to another column).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tmekit._constants import CELL_TYPES_KEY

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from anndata import AnnData

__all__ = ["DECLARE_HINT", "LABEL_ROLES", "PDL1_HINT", "ROLE_KEYS", "Roles", "declared", "from_mapping", "roles"]

#: The label roles, in the order messages name them.
LABEL_ROLES = ("tumor", "immune", "cd8", "t")
#: Every key of a declaration (and of a ``cell_types=`` override).
ROLE_KEYS = ("key", *LABEL_ROLES, "pdl1", "pdl1_threshold")
#: How a user declares roles (the end of every "roles missing" message; the CLI says it in its own terms).
DECLARE_HINT = (
    "Declare them once: `tk.pp.cell_types(adata, key='cell_type', tumor=[...], immune=[...], cd8=[...], t=[...])` "
    "(or type the cells with `tk.tl.annotate(adata)`, which declares its own labels), or pass `cell_types={...}` "
    "with those keys for this call only."
)
#: How a user gives the PD-L1 positivity cut (for marker messages).
PDL1_HINT = "`pdl1_threshold=` (of `tk.pp.cell_types`, or `cell_types={'pdl1_threshold': ...}` for one call)"
_WHAT = {"key": "the obs column of cell types", "tumor": "tumour labels", "immune": "immune (leukocyte) labels",
         "cd8": "CD8 T-cell labels", "t": "T-cell (CD3+) labels",
         "pdl1": "the PD-L1 status (obs column, channel, or PD-L1+ labels)",
         "pdl1_threshold": "the PD-L1 positivity cut for continuous intensities"}  # fmt: skip


def _labels(value: Iterable[str] | str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in np.asarray(list(value), dtype=object).ravel()]


@dataclass(frozen=True)
class Roles:
    """One object's roles: ``key`` (obs column; ``None`` for spot data), label lists, PD-L1 status and cut."""

    key: str | None = None
    tumor: list[str] = field(default_factory=list)
    immune: list[str] = field(default_factory=list)
    cd8: list[str] = field(default_factory=list)
    t: list[str] = field(default_factory=list)
    pdl1: str | list[str] | None = None
    pdl1_threshold: float | None = None

    @property
    def pdl1_labels(self) -> list[str] | None:
        """The PD-L1+ labels of ``key`` when PD-L1 is given through the cell types (a list), else ``None``."""
        return list(self.pdl1) if isinstance(self.pdl1, list) else None

    def labels(self) -> dict[str, list[str] | None]:
        """``{"tumor", "immune", "cd8", "t"}``; an undeclared role is ``None`` (T cells then default to CD8)."""
        return {role: (getattr(self, role) or None) for role in LABEL_ROLES}

    def stored(self) -> dict[str, Any]:
        """The declaration as ``uns`` holds it (h5ad-safe: no ``None``)."""
        out: dict[str, Any] = {} if self.key is None else {"key": self.key}
        out.update({role: list(getattr(self, role)) for role in LABEL_ROLES if getattr(self, role)})
        if self.pdl1 is not None:
            out["pdl1"] = list(self.pdl1) if isinstance(self.pdl1, list) else self.pdl1
        if self.pdl1_threshold is not None:
            out["pdl1_threshold"] = float(self.pdl1_threshold)
        return out


def _check_keys(given: Mapping[str, Any], where: str) -> None:
    unknown = [k for k in given if k not in ROLE_KEYS]
    if unknown:
        hints = {k: m[0] for k in unknown if (m := difflib.get_close_matches(k, ROLE_KEYS, n=1, cutoff=0.5))}
        hint = f" (did you mean {', '.join(f'{k!r} -> {v!r}' for k, v in hints.items())}?)" if hints else ""
        msg = f"{where} has unknown keys {unknown}{hint}. Its keys are {list(ROLE_KEYS)}."
        raise ValueError(msg)


def from_mapping(values: Mapping[str, Any], where: str) -> Roles:
    """A :class:`Roles` from a declaration or override mapping (unknown keys raise, naming the known ones)."""
    _check_keys(values, where)
    key = values.get("key")
    threshold = values.get("pdl1_threshold")
    if threshold is not None and not np.isfinite(float(threshold)):
        threshold = None
    return Roles(key=None if key is None else str(key), **{r: _labels(values.get(r)) for r in LABEL_ROLES},
                 pdl1=_pdl1(values.get("pdl1")),
                 pdl1_threshold=None if threshold is None else float(threshold))  # fmt: skip


def _pdl1(value: Any) -> str | list[str] | None:
    """A string names an obs column or channel; any other collection lists PD-L1+ labels (even of one label)."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, str):
        return value
    labels = _labels(value)
    return labels or None


def declared(adata: AnnData) -> Roles | None:
    """The object's declaration (``uns["tmekit_cell_types"]``), or ``None``."""
    stored = adata.uns.get(CELL_TYPES_KEY)
    if stored is None:
        return None
    if not hasattr(stored, "keys"):
        msg = f"`adata.uns[{CELL_TYPES_KEY!r}]` is not a mapping. Declare the cell types with `tk.pp.cell_types`."
        raise TypeError(msg)
    return from_mapping(dict(stored), f"`adata.uns[{CELL_TYPES_KEY!r}]`")


def roles(adata: AnnData, cell_types: Mapping[str, Any] | None = None, *, need: Iterable[str] = ()) -> Roles:
    """The roles a call uses: the object's declaration, with the entries of ``cell_types`` in its place.

    ``need``: the keys this call cannot do without; a missing one raises with the call that declares it.
    """
    if cell_types is not None and not hasattr(cell_types, "keys"):
        msg = (
            f"`cell_types` must be a mapping such as {{'key': 'cell_type', 'tumor': ['Tumor'], ...}}; got "
            f"{type(cell_types).__name__}."
        )
        raise TypeError(msg)
    base = declared(adata)
    override = dict(cell_types or {})
    _check_keys(override, "`cell_types`")
    merged = {} if base is None else base.stored()
    if "key" in override and override["key"] != merged.get("key"):
        # labels of another column (PD-L1+ labels too)
        merged = {k: v for k, v in merged.items() if k not in {"key", *LABEL_ROLES} and not (k == "pdl1" and
                  not isinstance(v, str))}  # fmt: skip
    merged.update({k: v for k, v in override.items() if v is not None})
    result = from_mapping(merged, "`cell_types`")
    missing = [k for k in need if not getattr(result, k)]
    if missing:
        what = ", ".join(f"{k!r} ({_WHAT[k]})" for k in missing)
        msg = (
            f"This call needs the cell types' roles {what}, and the object declares "
            f"{'none' if base is None else sorted(base.stored())}. {DECLARE_HINT}"
        )
        raise ValueError(msg)
    return result
