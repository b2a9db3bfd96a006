"""Protein panels (MIBI, IMC, CODEX, mIF) for `tk.tl.annotate`: channel names, per-channel scaling, node scores.

- **Names**: each canonical marker of the hierarchy (``tmekit.tl._lineages``) matches a panel's channels by its
  synonyms, compared in lower case without punctuation (``Pan-Keratin`` = ``PanCK`` = ``pan_cytokeratin``;
  ``CD3`` = ``CD3e``; ``SMA`` = ``aSMA`` = ``ACTA2``). A panel is recognised as protein when at least
  :data:`MIN_PROTEIN_CHANNELS` of its channel names are such markers and not gene symbols (``CD45``, ``CD3``,
  ``Pan-Keratin``, ``CD8``; RNA panels name genes: PTPRC, CD3E, KRT8, CD8A).
- **Scale**: intensities have no common unit across channels, instruments or images, so each channel is put on
  [0, 1] per sample (``library_key``): ``asinh(x / cofactor)`` for raw counts or intensities (cofactor 5, as for
  mass cytometry; values that are already transformed, with negatives or below 20, are kept), then
  ``(x - p1) / (p99.5 - p1)`` clipped, with p the sample's percentiles. A sample's scale never depends on the others.
- **Score** of a node: the highest of its up channels (a cell is myeloid when CD68 *or* CD163 *or* CD11c is high)
  minus the highest of its down channels (an immune type is low in keratin; a T cell in CD20).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit._genenames import is_gene_symbol
from tmekit._obs import samples
from tmekit.tl._lineages import nodes

if TYPE_CHECKING:
    from anndata import AnnData

    from tmekit.tl._lineages import Node

__all__ = ["MIN_PROTEIN_CHANNELS", "SYNONYMS", "channel_map", "is_protein_panel", "node_scores", "scaled_channels"]

#: Canonical marker -> other names of its channel (compared lower-case, letters and digits only).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "Pan-Keratin": ("pankeratin", "panck", "pancytokeratin", "cytokeratin", "keratin", "ck", "krt", "aecae1"),
    "Keratin": ("keratin8", "keratin18", "keratin7", "keratin19", "ck8", "ck18", "ck7", "ck19", "keratin17",
                "keratin5", "keratin6", "keratin14", "ck5", "ck14", "ck17", "krt8", "krt18"),
    "E-cadherin": ("ecadherin", "ecad", "cdh1"), "Beta-catenin": ("betacatenin", "bcatenin", "ctnnb1"),
    "EpCAM": ("epcam", "cd326"),
    "CD45": ("cd45", "ptprc"), "CD3": ("cd3", "cd3e", "cd3epsilon"), "CD8": ("cd8", "cd8a", "cd8alpha"),
    "CD4": ("cd4",), "FoxP3": ("foxp3",), "CD56": ("cd56", "ncam1", "ncam"), "CD16": ("cd16", "fcgr3a"),
    "CD7": ("cd7",), "CD2": ("cd2",), "CD20": ("cd20", "ms4a1"), "CD19": ("cd19",), "PAX5": ("pax5",),
    "CD138": ("cd138", "sdc1", "syndecan1"), "IgA": ("iga",), "IgG": ("igg",),
    "CD68": ("cd68",), "CD163": ("cd163",), "CD11c": ("cd11c", "itgax"), "CD14": ("cd14",), "CD11b": ("cd11b", "itgam"),
    "CD33": ("cd33",), "CD206": ("cd206", "mrc1"), "CSF-1R": ("csf1r", "cd115"), "CD209": ("cd209", "dcsign"),
    "CD1c": ("cd1c",), "MPO": ("mpo",), "CD15": ("cd15",), "CD66b": ("cd66b", "ceacam8"),
    "Tryptase": ("tryptase", "tpsab1"), "CD117": ("cd117", "ckit", "kit"),
    "SMA": ("sma", "asma", "alphasma", "acta2"), "Vimentin": ("vimentin", "vim"), "Collagen": ("collagen", "col1",
    "col1a1", "collagen1", "collageni"), "PDGFRa": ("pdgfra", "pdgfralpha"), "FAP": ("fap",),
    "PDGFRb": ("pdgfrb", "pdgfrbeta"), "MCAM": ("mcam", "cd146"), "CSPG4": ("cspg4", "ng2"), "RGS5": ("rgs5",),
    "CD31": ("cd31", "pecam1", "pecam"), "CD34": ("cd34",), "vWF": ("vwf",),
    "EGFR": ("egfr", "her1"), "p53": ("p53", "tp53"),
    "SOX10": ("sox10",), "MelanA": ("melana", "mart1", "mlana"), "PMEL": ("pmel", "gp100", "hmb45"),
    "S100": ("s100", "s100b"),
}  # fmt: skip
#: Protein channel names (not gene symbols) a panel must have to be read as protein without ``modality=``.
MIN_PROTEIN_CHANNELS = 3
#: Percentiles that map a channel of a sample onto [0, 1].
LOW, HIGH = 1.0, 99.0
COFACTOR = 5.0


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def channel_map(var_names: pd.Index) -> dict[str, list[str]]:
    """Canonical marker -> the panel's channels that measure it (exact synonyms first, none if absent)."""
    keys = {_key(v): str(v) for v in var_names}
    out: dict[str, list[str]] = {}
    for marker, names in SYNONYMS.items():
        found = [keys[k] for k in (_key(marker), *names) if k in keys]
        if found:
            out[marker] = list(dict.fromkeys(found))
    return out


def is_protein_panel(var_names: pd.Index) -> bool:
    """Whether the channel names are those of a protein panel (see the module notes)."""
    found = channel_map(var_names)
    protein_only = {c for channels in found.values() for c in channels if not is_gene_symbol(c)}
    return len(protein_only) >= MIN_PROTEIN_CHANNELS and len(var_names) <= 200


def scaled_channels(adata: AnnData, channels: list[str], *, library_key: str | None, layer: str | None) -> pd.DataFrame:
    """The ``channels`` of each cell on [0, 1], scaled per sample (module notes)."""
    matrix = adata.layers[layer] if layer is not None else adata.X
    if matrix is None:
        msg = "`adata.X` is empty: protein annotation needs the intensities (pass `layer=` naming them)."
        raise ValueError(msg)
    idx = [adata.var_names.get_loc(c) for c in channels]
    values = matrix[:, idx]
    values = np.asarray(values.toarray() if sp.issparse(values) else values, dtype=np.float64)
    if not np.isfinite(values).all():
        msg = "Protein intensities contain NaN/infinite values: remove or fill them before annotating."
        raise ValueError(msg)
    raw = values.min() >= 0 and np.nanpercentile(values, 99) > 20  # counts or raw intensities: asinh first
    values = np.arcsinh(values / COFACTOR) if raw else values
    out = np.zeros_like(values)
    for _, rows in samples(adata, library_key=library_key):
        part = values[rows]
        lo, hi = np.percentile(part, LOW, axis=0), np.percentile(part, HIGH, axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        out[rows] = np.clip((part - lo) / span, 0.0, 1.0)
    return pd.DataFrame(out, index=adata.obs_names, columns=channels)


def node_scores(scaled: pd.DataFrame, found: dict[str, list[str]]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per node with a measured up channel: max of its up channels minus max of its down channels; why not others."""
    scores, missing = {}, {}
    for node in nodes():
        up = [c for m in node.protein for c in found.get(m, [])]
        if not up:
            missing[node.label] = f"no channel for {list(node.protein)}" if node.protein else "no protein markers"
            continue
        down = [c for m in node.protein_down for c in found.get(m, [])]
        score = scaled[up].max(axis=1)
        scores[node.label] = score - scaled[down].max(axis=1) if down else score
    return pd.DataFrame(scores, index=scaled.index), missing


def markers_used(node: Node, found: dict[str, list[str]]) -> list[str]:
    """The panel's channels a node reads (up then down)."""
    return [c for m in (*node.protein, *node.protein_down) for c in found.get(m, [])]
