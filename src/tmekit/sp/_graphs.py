"""The one place tmekit builds squidpy graphs: cell contacts (radius graph) and spot adjacency (grid graph).

squidpy >= 1.8.2 has one builder function per graph kind (``spatial_neighbors_radius``, ``_grid``, ``_knn``,
``_delaunay``); the old all-in-one ``spatial_neighbors`` is deprecated. squidpy is imported here, lazily, so
that ``import tmekit`` stays light (squidpy pulls in spatialdata, dask, zarr and xarray). Touching contacts
(Delaunay edges) live in ``_touching``: squidpy's Delaunay builder triangulates each sample in one thread, and a
whole slide triangulated in strips on every core is 4x faster with the same edges.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from tmekit.sp._touching import cores

if TYPE_CHECKING:
    from collections.abc import Generator
    from types import ModuleType

__all__ = ["MAX_EDGES", "contact_edges", "expected_edges", "grid_graph"]


@functools.cache
def _squidpy() -> ModuleType:
    """``squidpy``, imported without its docstring-template noise.

    squidpy's docstrings are filled in by docrep at import time; a template key squidpy forgot to define
    (``%(n_jobs)s`` in squidpy 1.8) makes docrep emit ``SyntaxWarning: 'n_jobs' is not a valid key!``. That is
    about squidpy's documentation, not about the user's data, so exactly that message is silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"'[^']*' is not a valid key!", category=SyntaxWarning)
        import squidpy

    return squidpy


@contextlib.contextmanager
def _quiet_squidpy_log() -> Generator[None, None, None]:
    """Silence the INFO line squidpy logs for every graph it builds (tmekit builds one per call)."""
    squidpy_log = logging.getLogger("spatialdata._logging")
    level = squidpy_log.level
    squidpy_log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        squidpy_log.setLevel(level)


def _light(xy_units: np.ndarray, lib: np.ndarray | None = None) -> ad.AnnData:
    """A coordinates-only AnnData for squidpy's builders (no copy of the user's X or obs)."""
    obs = pd.DataFrame(index=np.arange(len(xy_units)).astype(str))
    if lib is not None:
        obs["lib"] = pd.Categorical(lib)
    light = ad.AnnData(obs=obs)
    light.obsm["spatial"] = np.asarray(xy_units, dtype=np.float64)
    return light


#: Largest contact graph built (squidpy stores connectivities and distances: ~24 bytes per directed edge).
MAX_EDGES = 2e8
_EDGE_PROBES = 2_000


def expected_edges(xy_units: np.ndarray, lib: np.ndarray, radius_units: float) -> float:
    """Directed edges a radius graph would have, estimated from the neighbour counts of up to 2,000 cells per sample."""
    total = 0.0
    for code in np.unique(lib):
        points = xy_units[lib == code]
        probes = points[:: max(1, len(points) // _EDGE_PROBES)]
        counts = cKDTree(points).query_ball_point(probes, r=radius_units, return_length=True)
        total += (float(np.mean(counts)) - 1.0) * len(points)  # each probe counts itself
    return total


def contact_edges(xy_units: np.ndarray, lib: np.ndarray, radius_units: float) -> tuple[np.ndarray, np.ndarray]:
    """Undirected contact pairs ``(i, j)``, ``i < j``: centres within ``radius_units``, built per sample ``lib``.

    The graph's size is estimated first: a graph too large for memory raises with its size instead of
    exhausting the machine (a contact radius in the wrong unit, or coordinates that are).
    """
    edges = expected_edges(xy_units, lib, radius_units)
    if edges > MAX_EDGES:
        per_cell = edges / max(len(xy_units), 1)
        msg = (
            f"The contact graph would have about {edges:.3g} edges ({per_cell:.3g} neighbours per cell within the "
            f"contact radius; cells in tissue touch a handful). The limit is {MAX_EDGES:.0e}. Check `contact_distance` "
            "(micrometres) and `microns_per_unit`."
        )
        raise ValueError(msg)
    gr = _squidpy().gr  # imported first: importing spatialdata resets its logger's level
    with _quiet_squidpy_log():
        built = gr.spatial_neighbors_radius(
            _light(xy_units, lib), radius=float(radius_units), library_key="lib", copy=True, n_jobs=cores()
        )
    coo = built.connectivities.tocoo()
    keep = coo.row < coo.col
    return coo.row[keep], coo.col[keep]


def grid_graph(xy_units: np.ndarray, *, n_neighs: int) -> sp.csr_matrix:
    """Spot adjacency from squidpy's grid graph: ``n_neighs`` = 6 on a hexagonal (Visium) grid, 4 on square bins."""
    gr = _squidpy().gr
    with _quiet_squidpy_log():
        built = gr.spatial_neighbors_grid(_light(xy_units), n_neighs=n_neighs, n_rings=1, copy=True)
    return sp.csr_matrix(built.connectivities)
