"""A synthetic Visium-like tissue whose phenotype and per-spot composition are known by construction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit import sp as tk_sp
from tmekit.datasets._synthetic import synthetic_tissue

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["synthetic_spots"]

#: Types of :func:`tmekit.datasets.synthetic_tissue` -> default-reference types whose profile they express.
_SYNTHETIC_PROFILE = {
    "Tumour": "Epithelial",
    "Stroma": "Fibroblast",
    "CD8T": "CD8 T",
    "CD4T": "CD4 T",
    "Macrophage": "Myeloid",
}


def synthetic_spots(
    phenotype: Literal["inflamed", "excluded", "desert", "near_inflamed", "near_excluded"] = "inflamed",
    *,
    size_um: float = 2000.0,
    counts_per_cell: float = 300.0,
    rng: np.random.Generator | int | None = 0,
    sample_id: str | None = None,
) -> AnnData:
    """A seeded synthetic Visium-like tissue whose phenotype and per-spot composition are known.

    Cells are placed by :func:`synthetic_tissue` (same phenotypes and densities, on a larger field so
    that there are hundreds of spots); each cell gets Poisson counts from the real expression profile of
    its type in the bundled Wu et al. 2021 reference (tumour -> epithelial, stroma -> fibroblast, CD8T,
    CD4T, macrophage -> myeloid) over the cell-identity genes, ``counts_per_cell`` on average; cells are
    then aggregated into 55 um spots on a 100 um hexagonal grid by :func:`tmekit.sp.pseudo_visium`.

    Parameters
    ----------
    phenotype
        The placement of :func:`synthetic_tissue`.
    size_um
        Side of the square field in micrometres.
    counts_per_cell
        Mean counts per cell.
    rng
        Seed or generator.
    sample_id
        Value of ``obs["sample_id"]`` (default: the phenotype).

    Returns
    -------
    The spot AnnData (raw counts, ``obsm["cell_type_counts"]`` / ``obsm["cell_type_fractions"]`` = truth) with
    ``uns["synthetic_tissue"]`` (parameters, expected phenotype).

    Examples
    --------
    >>> spots = tk.datasets.synthetic_spots("excluded", rng=0)
    >>> spots.shape
    (489, 133)
    >>> tk.tl.classify(spots)  # deconvolves first, then the spot_cd8 rule
    >>> tk.get.phenotypes(spots)["phenotype"].tolist()
    ['excluded']
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    tissue = synthetic_tissue(phenotype, size_um=size_um, rng=gen, sample_id=sample_id)
    ref = tk_sp.default_spot_reference()
    types = tissue.obs["cell_type"].astype(str).map(_SYNTHETIC_PROFILE).to_numpy()
    profiles = ref.profiles.loc[types].to_numpy()
    scale = counts_per_cell * (ref.library_size.loc[types] / ref.library_size.mean()).to_numpy()
    counts = gen.poisson(profiles * scale[:, None]).astype(np.float32)
    tissue = ad.AnnData(
        X=sp.csr_matrix(counts), obs=tissue.obs, var=pd.DataFrame(index=ref.profiles.columns.copy()),
        obsm=dict(tissue.obsm), uns=dict(tissue.uns),
    )  # fmt: skip
    spots = tk_sp.pseudo_visium(tissue, cell_type_key="cell_type", library_key="sample_id")
    spots.uns["synthetic_tissue"] = dict(tissue.uns["synthetic_tissue"])
    return spots
