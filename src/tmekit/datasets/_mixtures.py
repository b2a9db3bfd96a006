"""Known-answer pseudo-cohorts: samples built by drawing real cells in chosen cell-type proportions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anndata import AnnData

__all__ = ["mix_samples"]


def mix_samples(
    adata: AnnData,
    compositions: Mapping[str, Mapping[str, float]],
    *,
    cell_type_key: str,
    n_cells: int = 400,
    library_key: str = "sample",
    rng: np.random.Generator | int | None = 0,
) -> AnnData:
    """Build a multi-sample AnnData from one sample's real cells, with chosen cell-type proportions.

    Each sample draws ``n_cells`` cells (with replacement, seeded) from ``adata``: for each cell type in
    its composition, ``round(fraction x n_cells)`` cells of that type. The result keeps the cells' real
    expression (``X`` and layers copied, never modified) and their types, so pseudobulk or composition
    methods can be tested against samples whose make-up is known by construction.

    Parameters
    ----------
    adata
        Cells to draw from (e.g. :func:`tmekit.datasets.wu2021_cid4465`).
    compositions
        ``{sample name: {cell type: fraction}}``; fractions of a sample are normalised to sum to 1.
    cell_type_key
        ``obs`` column with the cell types named in ``compositions``.
    n_cells
        Cells per sample.
    library_key
        Name of the new ``obs`` column holding the sample.
    rng
        Seed or generator.

    Returns
    -------
    AnnData with ``sum(n_cells)`` cells; ``obs[library_key]`` the sample, ``obs_names`` made unique.

    Examples
    --------
    >>> cells = tk.datasets.wu2021_cid4465()
    >>> mixes = {"hot": {"T-cells": 0.5, "Cancer Epithelial": 0.5}, "cold": {"T-cells": 0.1, "Cancer Epithelial": 0.9}}
    >>> tumours = tk.datasets.mix_samples(cells, mixes, cell_type_key="cell_type_major", n_cells=200)
    >>> tumours.obs["sample"].value_counts().to_dict()
    {'hot': 200, 'cold': 200}
    """
    if cell_type_key not in adata.obs:
        msg = f"`adata.obs[{cell_type_key!r}]` not found (cell_type_key)."
        raise KeyError(msg)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    types = adata.obs[cell_type_key].astype(str).to_numpy()
    rows, labels = [], []
    for sample, parts in compositions.items():
        total = float(sum(parts.values()))
        if total <= 0:
            msg = f"Sample {sample!r}: fractions must be positive and sum to more than 0; got {dict(parts)}."
            raise ValueError(msg)
        for cell_type, fraction in parts.items():
            pool = np.flatnonzero(types == cell_type)
            if pool.size == 0:
                known = sorted(set(types))
                msg = f"Sample {sample!r}: no cells of type {cell_type!r} in `obs[{cell_type_key!r}]`; types: {known}."
                raise ValueError(msg)
            k = round(fraction / total * n_cells)
            rows.append(gen.choice(pool, size=k, replace=True))
            labels += [sample] * k
    index = np.concatenate(rows)
    obs = adata.obs.iloc[index].copy()
    obs.index = [f"{name}-{i}" for i, name in enumerate(adata.obs_names[index])]
    obs[library_key] = pd.Categorical(labels, categories=list(compositions))
    layers = {key: value[index] for key, value in adata.layers.items()}
    return ad.AnnData(X=adata.X[index], obs=obs, var=adata.var.copy(), layers=layers)
