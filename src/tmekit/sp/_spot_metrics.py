"""Per-sample evidence of spot data: each spot's compartment and group fractions, and their means per compartment.

The spot counterpart of :func:`tmekit.sp.tile_table` / :func:`tmekit.sp.tile_metrics` (``_metrics``): a spot is
the unit of evidence, so resampling spots gives the sampling noise of a sample's metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._constants import COMPARTMENT_KEY, CONTENT_KEY
from tmekit._obs import samples
from tmekit._roles import roles
from tmekit._spatialdata import accepts_spatialdata
from tmekit.sp._metrics import _COMP, _COMP_LABELS, _ratio, _regions, _summed
from tmekit.sp._spotdata import GROUPS, group_content

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anndata import AnnData

__all__ = ["spot_metrics", "spot_table"]


@accepts_spatialdata
def spot_table(
    adata: AnnData,
    *,
    cell_types: Mapping[str, Any] | None = None,
    library_key: str | None = None,
    content_key: str = CONTENT_KEY,
    compartment_key: str = COMPARTMENT_KEY,
) -> pd.DataFrame:
    """One row per spot: its compartment (as counts ``n_spots_<compartment>``) and group fractions in it.

    Groups (tumour, immune, CD8 T, T) are sums of the deconvolved types of ``obsm[content_key]``; by default
    the groups the reference declared; the ``tumor`` / ``immune`` / ``cd8`` / ``t`` roles of
    :func:`tmekit.pp.cell_types` (or ``cell_types={...}``) name other columns of the content. Summing a sample's
    rows and passing them to :func:`spot_metrics`
    gives its metrics. Spots without content (NaN) count for nothing. Never modifies ``adata``.

    Parameters
    ----------
    adata
        Spots with content (:func:`spot_content`) and compartments (:func:`compartments`).
    cell_types
        Changes to the groups for this call only: ``tumor``, ``immune``, ``cd8``, ``t`` name content columns.
    library_key
        ``obs`` column of samples (``None``: one sample).
    content_key, compartment_key
        Where :func:`spot_content` and :func:`compartments` wrote.

    Returns
    -------
    DataFrame, one row per spot (ordered by sample, then spot name): ``sample``, ``spot``, and per compartment
    (``core``, ``margin``, ``stroma``) ``n_spots_<compartment>`` (1 or 0) and ``sum_<group>_<compartment>``.

    Examples
    --------
    >>> spots = tk.datasets.synthetic_spots("excluded", rng=0)
    >>> tk.sp.spot_content(spots)
    >>> tk.sp.compartments(spots)
    >>> table = tk.sp.spot_table(spots)
    >>> table.shape
    (489, 17)
    """
    _regions(adata, compartment_key)
    groups = roles(adata, cell_types).labels()
    content = group_content(adata, content_key=content_key, groups=groups)
    comp = adata.obs[compartment_key].astype(str).to_numpy()
    valid = np.isfinite(content["tumor"].to_numpy())
    rows: dict[str, Any] = {}
    for label, short in _COMP_LABELS.items():
        member = (comp == label) & valid
        rows[f"n_spots_{short}"] = member.astype(float)
        for group in GROUPS:
            rows[f"sum_{group}_{short}"] = np.where(member, content[group].to_numpy(), 0.0)
    frame = pd.DataFrame(rows)
    frame.insert(0, "spot", adata.obs_names.to_numpy())
    sample_of = np.empty(adata.n_obs, dtype=object)
    rank = np.empty(adata.n_obs, dtype=np.int64)
    for k, (name, idx) in enumerate(samples(adata, library_key=library_key)):
        sample_of[idx], rank[idx] = name, k
    frame.insert(0, "sample", sample_of)
    order = np.lexsort((frame["spot"].astype(str).to_numpy(), rank))  # each sample's spots by name: any obs order
    return frame.iloc[order].reset_index(drop=True)


def spot_metrics(spots: pd.DataFrame) -> pd.DataFrame:
    """Mean group fractions per compartment and over all tissue spots, from :func:`spot_table` rows.

    With a ``sample`` column the rows of each sample are summed first; without one each row is a sum already.

    Parameters
    ----------
    spots
        Rows of :func:`spot_table` (all of them, a sample's, or a resample of them).

    Returns
    -------
    DataFrame, one row per sample: ``n_spots_<compartment>`` and ``fraction_<group>_<compartment>`` (mean group
    fraction of the compartment's spots), also over all tissue spots (``fraction_<group>_tissue``).

    Examples
    --------
    >>> spots = tk.datasets.synthetic_spots("excluded", rng=0)
    >>> tk.sp.spot_content(spots)
    >>> tk.sp.compartments(spots)
    >>> metrics = tk.sp.spot_metrics(tk.sp.spot_table(spots))
    >>> metrics[["fraction_cd8_core", "fraction_cd8_margin"]].round(3)
            fraction_cd8_core  fraction_cd8_margin
    sample
    all                 0.006                 0.17
    """
    sums = _summed(spots)
    out = pd.DataFrame(index=sums.index)
    total = sum(sums[f"n_spots_{c}"] for c in _COMP)
    for c in _COMP:
        out[f"n_spots_{c}"] = sums[f"n_spots_{c}"]
        for group in GROUPS:
            out[f"fraction_{group}_{c}"] = _ratio(sums[f"sum_{group}_{c}"], sums[f"n_spots_{c}"])
    for group in GROUPS:
        out[f"fraction_{group}_tissue"] = _ratio(sum(sums[f"sum_{group}_{c}"] for c in _COMP), total)
    return out
