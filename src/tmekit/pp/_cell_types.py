"""`tk.pp.cell_types`: declare once which cell types are tumour, immune, CD8 T and T cells, and the PD-L1 status."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from tmekit._constants import CELL_TYPES_KEY, CONTENT_KEY
from tmekit._markers import marker_status
from tmekit._obs import check_roles, label_mask
from tmekit._pdl1 import check_pdl1_labels
from tmekit._roles import LABEL_ROLES, Roles, declared, from_mapping
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

__all__ = ["cell_types"]


def _check_labels(adata: AnnData, new: Roles) -> None:
    if new.key is None:
        if CONTENT_KEY not in adata.obsm:
            msg = (
                "`key` is missing: name the obs column of cell types, e.g. `tk.pp.cell_types(adata, key='cell_type', "
                "tumor=[...], ...)`. (Spot data without cell types take labels of `obsm['tmekit_spot_content']`: "
                "run `tk.sp.spot_content` first.)"
            )
            raise ValueError(msg)
        present = set(map(str, adata.obsm[CONTENT_KEY].columns))
        for role in LABEL_ROLES:
            absent = [label for label in getattr(new, role) if label not in present]
            if absent:
                msg = f"{role}={absent} are not cell types of the spot content (its columns: {sorted(present)})."
                raise ValueError(msg)
        return
    if new.key not in adata.obs:
        close = difflib.get_close_matches(new.key, list(map(str, adata.obs.columns)), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"`adata.obs[{new.key!r}]` not found: `key` names the obs column of cell types.{hint} Columns: "
            f"{list(adata.obs.columns)[:30]}. Without cell types, type the cells with `tk.tl.annotate(adata)`."
        )
        raise KeyError(msg)
    for role in LABEL_ROLES:
        if getattr(new, role):
            label_mask(adata, cell_type_key=new.key, labels=getattr(new, role), what=role)
    check_roles(set(map(str, adata.obs[new.key].astype(str).unique())), **new.labels())


@accepts_spatialdata
@all_or_nothing
def cell_types(
    adata: AnnData,
    *,
    key: str | None = None,
    tumor: Sequence[str] | str | None = None,
    immune: Sequence[str] | str | None = None,
    cd8: Sequence[str] | str | None = None,
    t: Sequence[str] | str | None = None,
    pdl1: str | Sequence[str] | None = None,
    pdl1_threshold: float | None = None,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Declare which cell types play which role, once per object; every tmekit function reads it.

    Writes ``uns["tmekit_cell_types"]``, which :func:`tmekit.sp.compartments`, :func:`tmekit.sp.tile_table`,
    :func:`tmekit.sp.infiltration`, :func:`tmekit.tl.classify`, :func:`tmekit.tl.tcell_states`, the plots, the
    report and the command line read. Each of them also takes ``cell_types={...}`` (same keys) to change an entry for
    one call. :func:`tmekit.tl.annotate` declares its own labels.

    Parameters
    ----------
    adata
        Cells with an ``obs`` column of cell types (or spot data with ``obsm["tmekit_spot_content"]``).
    key
        The ``obs`` column of cell types (spot data: ``None``; the labels are columns of the spot content).
    tumor, immune, cd8, t
        Labels of tumour cells; of all immune cells (leukocytes, including the T cells); of CD8 T cells; of all
        CD3+ T cells (Immunoscore's CD3; default: the CD8 labels). Each label must occur in the column, or look
        unlike any label that does (a misspelling raises with the closest one). A label is never both tumour and
        immune, and CD8 T / T labels must be immune labels.
    pdl1, pdl1_threshold
        Each cell's PD-L1 status (TIL x PD-L1 calls): an ``obs`` column (booleans, 0/1, counts or intensities) or a
        channel / gene of ``X`` (CD274 in RNA data), and the positivity cut for continuous intensities. Or, for
        panels whose phenotypes carry PD-L1, a **list** of the PD-L1+ labels of ``key`` (e.g.
        ``["CD8+PD1-PDL1+", "CD8-PD1-PDL1+"]``; a string is always a column or channel name): a cell is PD-L1+ iff its
        label is listed, and the status is known on the tumour / immune role only if one of its labels is listed
        (otherwise the panel did not read PD-L1 there: TPS or IC is not measured, never 0). See ``tmekit._pdl1``.
    overwrite
        Replace a different declaration (declaring the same roles again changes nothing).
    copy
        Return a new object instead of writing to ``adata``.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.

    Examples
    --------
    >>> tk.pp.cell_types(
    ...     adata,
    ...     key="cell_type",
    ...     tumor=["Tumor"],
    ...     immune=["CD8 T", "CD4 T", "Macrophage"],
    ...     cd8=["CD8 T"],
    ...     t=["CD8 T", "CD4 T"],
    ... )  # doctest: +SKIP
    >>> tk.tl.classify(adata, rules="cd8_density,patterns4")  # doctest: +SKIP
    """
    new = from_mapping({"key": key, "tumor": tumor, "immune": immune, "cd8": cd8, "t": t, "pdl1": pdl1,
                        "pdl1_threshold": pdl1_threshold}, "tk.pp.cell_types")  # fmt: skip
    if not any(getattr(new, role) for role in LABEL_ROLES):
        msg = "Declare at least one role: `tumor=[...]`, `immune=[...]`, `cd8=[...]` or `t=[...]` (labels of `key`)."
        raise ValueError(msg)
    _check_labels(adata, new)
    if new.pdl1_labels is not None:
        check_pdl1_labels(adata, new)
    elif new.pdl1 is not None:
        marker_status(adata, str(new.pdl1), threshold=new.pdl1_threshold, what="PD-L1", hint="`pdl1_threshold=`")
    old = declared(adata)
    if old is not None and old.stored() != new.stored() and not overwrite:
        msg = (
            f"`adata.uns[{CELL_TYPES_KEY!r}]` already declares {old.stored()}. Pass `overwrite=True` to replace it, or "
            "`cell_types={...}` to a single call to change an entry for that call only."
        )
        raise ValueError(msg)
    target = adata.copy() if copy else adata
    target.uns[CELL_TYPES_KEY] = new.stored()
    return target if copy else None
