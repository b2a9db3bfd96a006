"""Loaders for the real datasets bundled in ``tmekit/datasets/data`` (see the README there)."""

from __future__ import annotations

import importlib.resources
from typing import TYPE_CHECKING

from tmekit.io import read_h5ad

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["wu2021_cid4465"]


def wu2021_cid4465() -> AnnData:
    """One triple-negative breast tumour from Wu et al. 2021 (10x scRNA-seq, raw UMI counts).

    1,564 cells x 29,733 genes, sample CID4465, with the authors' annotation in
    ``obs["cell_type_major"]`` (CAFs, PVL, Endothelial, Myeloid, Cancer Epithelial, T-cells,
    Plasmablasts, B-cells, Normal Epithelial) and ``obs["cell_type_minor"]``.

    ``X`` holds raw counts: normalise before scoring, e.g.
    ``sc.pp.normalize_total(adata, target_sum=1e4); sc.pp.log1p(adata)``.

    Citation: Wu SZ et al. A single-cell and spatially resolved atlas of human breast cancers.
    Nat Genet 53:1334-1347 (2021). doi:10.1038/s41588-021-00911-1. GEO GSE176078.

    Returns
    -------
    A new AnnData object, read from the copy shipped in the package (a fresh copy on every call).
    """
    resource = importlib.resources.files("tmekit.datasets") / "data" / "wu2021_cid4465_tnbc.h5ad"
    with importlib.resources.as_file(resource) as path:
        return read_h5ad(path)
