"""Touching contacts triangulated in strips: exactly the edges of the one Delaunay triangulation of each sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay

import tmekit as tk
from tmekit.sp import _touching


def _reference(xy: np.ndarray, cap: float) -> set[tuple[int, int]]:
    """Delaunay edges of at most ``cap`` of the whole point set, from scipy directly (what squidpy builds)."""
    tri = Delaunay(xy)
    pairs = set()
    for s in tri.simplices:
        for a, b in ((s[0], s[1]), (s[1], s[2]), (s[0], s[2])):
            if np.hypot(*(xy[a] - xy[b])) <= cap:
                pairs.add((min(a, b), max(a, b)))
    return pairs


def _found(xy: np.ndarray, lib: np.ndarray, cap: float) -> set[tuple[int, int]]:
    rows, cols = _touching.touching_edges(xy, lib, cap)
    assert np.all(rows < cols)
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_strips_give_the_edges_of_the_whole_triangulation(monkeypatch):
    """A synthetic tissue cut into 12 strips: the same contacts as one triangulation, for every sample on its own."""
    tissue = tk.datasets.synthetic_tissue("excluded", size_um=2500, n_nests=6, nest_shape="irregular", rng=3)
    xy = np.asarray(tissue.obsm["spatial"], dtype=float)
    whole = _found(xy, np.zeros(len(xy), dtype=int), 12.0)
    assert whole == _reference(xy, 12.0)
    monkeypatch.setattr(_touching, "STRIP_CELLS", len(xy) // 12)
    assert len(_touching._strips(xy, np.arange(len(xy)))) == 12
    assert _found(xy, np.zeros(len(xy), dtype=int), 12.0) == whole
    # two samples side by side: each triangulated alone, no contact across them
    half = xy[:, 0] < np.median(xy[:, 0])
    lib = half.astype(int)
    both = _found(xy, lib, 12.0)
    for code in (0, 1):
        members = np.flatnonzero(lib == code)
        alone = {(members[a], members[b]) for a, b in _reference(xy[members], 12.0)}
        assert {(a, b) for a, b in both if lib[a] == code} == alone
    assert all(lib[a] == lib[b] for a, b in both)


def _trap(*, fillers: bool) -> np.ndarray:
    """p-q looks like an edge to a strip that cannot see s, 600 um away (see the tests below)."""
    p, q, r, s = (0.0, -2.5), (0.0, 2.5), (-0.01, 0.0), (600.0, 0.0)
    left = [(-300.0 - 7 * i, 7.0 * (i % 3)) for i in range(6)]
    above_below = [(x, y) for x in range(20, 110, 10) for y in (-250.0, 250.0)]  # outside the circle p, q, r
    right = [(700.0 + 7 * i, 7.0 * (i % 3)) for i in range(6)]
    xy = np.array([p, q, r, s, *left, *above_below, *right], dtype=float)
    if not fillers:
        return xy
    rng = np.random.default_rng(0)  # jittered: a lattice has four cells on one circle, and no unique triangulation
    far = [(x0 + 7.0 * i, 7.0 * j) for x0 in (-1200.0, 1500.0) for i in range(10) for j in range(10)]
    return np.vstack([xy, np.array(far) + rng.uniform(-1.5, 1.5, (len(far), 2))])


def _count_triangulations(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = _touching.Delaunay
    monkeypatch.setattr(_touching, "Delaunay", lambda pts: calls.append(len(pts)) or real(pts))
    return calls


@pytest.mark.parametrize("fillers", [True, False])
def test_an_edge_without_a_certificate_is_checked_against_a_wider_view(monkeypatch, fillers):
    """The circle through p, q and r (r 0.01 um off the segment) has its centre 312.5 um away and reaches s, so
    p-q is not a Delaunay edge; a strip whose halo stops at 96 um has no certificate for it and must look again:
    with twice the halo until it sees s, or (when that would be more than half the sample) with the whole sample.
    """
    xy = _trap(fillers=fillers)
    monkeypatch.setattr(_touching, "STRIP_CELLS", 12 if fillers else 5)
    calls = _count_triangulations(monkeypatch)
    found = _found(xy, np.zeros(len(xy), dtype=int), 12.0)
    assert (0, 1) not in found and (0, 1) not in _reference(xy, 12.0)
    assert {(0, 2), (1, 2)} <= found
    assert found == _reference(xy, 12.0)
    n_strips = len(_touching._strips(xy, np.arange(len(xy))))
    if fillers:  # some strip widened its halo; none needed the whole sample
        assert len(calls) > n_strips and max(calls) < len(xy)
    else:  # 34 cells: widening enough would take most of them, so the sample is triangulated once, whole
        assert n_strips > 1
        assert max(calls) == len(xy) and calls.count(len(xy)) == 1


def test_contacts_do_not_depend_on_the_order_of_the_cells(monkeypatch):
    rng = np.random.default_rng(5)
    xy = rng.random((6000, 2)) * 800
    monkeypatch.setattr(_touching, "STRIP_CELLS", 1000)
    found = _found(xy, np.zeros(len(xy), dtype=int), 12.0)
    perm = rng.permutation(len(xy))
    shuffled = _found(xy[perm], np.zeros(len(xy), dtype=int), 12.0)
    assert {tuple(sorted((perm[a], perm[b]))) for a, b in shuffled} == found
    assert found == _reference(xy, 12.0)


@pytest.mark.parametrize(
    "xy", [np.zeros((0, 2)), np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]), np.c_[np.arange(9.0), np.arange(9.0)]]
)
def test_samples_that_cannot_be_triangulated_have_no_contacts(xy):
    rows, cols = _touching.touching_edges(xy, np.zeros(len(xy), dtype=int), 12.0)
    assert rows.size == 0 and cols.size == 0
