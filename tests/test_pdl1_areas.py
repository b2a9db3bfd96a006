"""Cell areas for the IC score (`tmekit._pdl1.cell_areas`): the disc estimate's clip and the pixel-area refusal, each
at, just below and just above its cut, worked out by hand."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from tmekit._pdl1 import AREA_SPACING_LIMIT, MAX_RADIUS_UM, cell_areas


def _pairs(gaps: list[float]) -> tuple[ad.AnnData, np.ndarray]:
    """Pairs of cells ``gap`` um apart, the pairs 1 mm from each other: each cell's nearest neighbour is its pair."""
    xy = np.array([(1000.0 * k + dx, 0.0) for k, gap in enumerate(gaps) for dx in (0.0, gap)])
    return ad.AnnData(obs=pd.DataFrame(index=[f"c{i}" for i in range(len(xy))])), xy


@pytest.mark.parametrize(
    ("gap", "radius"),
    [
        (2 * MAX_RADIUS_UM * (1 - 1e-6), MAX_RADIUS_UM * (1 - 1e-6)),  # just below the clip: half the gap
        (2 * MAX_RADIUS_UM, MAX_RADIUS_UM),  # at it: both are the same
        (2 * MAX_RADIUS_UM * (1 + 1e-6), MAX_RADIUS_UM),  # just above: clipped
        (30.0, MAX_RADIUS_UM),  # far apart: a lone cell is a 10.6 um disc
        (8.0, 4.0),
    ],
)
def test_disc_radius_is_half_the_gap_clipped_at_the_maximum(gap, radius):
    adata, xy = _pairs([gap])
    areas = cell_areas(adata, xy, np.arange(2), np.arange(2))
    np.testing.assert_allclose(areas, np.pi * radius**2, rtol=1e-12)


def _lattice_with_areas(median_area: float) -> tuple[ad.AnnData, np.ndarray]:
    """16 cells on a 10 um lattice (the spacing leaves each pi * 5^2 um^2) with the given (constant) area column."""
    grid = np.arange(0.0, 40.0, 10.0)
    xy = np.array([(x, y) for y in grid for x in grid])
    obs = pd.DataFrame({"cell_area": np.full(len(xy), median_area)}, index=[f"c{i}" for i in range(len(xy))])
    return ad.AnnData(obs=obs), xy


@pytest.mark.parametrize(
    ("factor", "refused"),
    [(1 - 1e-6, False), (1.0, False), (1 + 1e-6, True)],  # at the limit it is still um^2: refused only above
)
def test_an_area_column_is_refused_only_above_the_spacing_limit(factor, refused):
    spacing = np.pi * 5.0**2
    adata, xy = _lattice_with_areas(AREA_SPACING_LIMIT * spacing * factor)
    cells = np.arange(adata.n_obs)
    if refused:
        with pytest.raises(ValueError, match=r"are the areas in pixels\?.*\*= um_per_pixel\*\*2"):
            cell_areas(adata, xy, cells, cells)
    else:
        np.testing.assert_array_equal(cell_areas(adata, xy, cells, cells), adata.obs["cell_area"].to_numpy())


def test_negative_or_missing_areas_are_refused():
    adata, xy = _lattice_with_areas(60.0)
    adata.obs.loc["c3", "cell_area"] = np.nan
    cells = np.arange(adata.n_obs)
    with pytest.raises(ValueError, match="missing or negative values"):
        cell_areas(adata, xy, cells, cells)
