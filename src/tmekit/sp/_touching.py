"""Touching-cell contacts (Keren et al. 2018): Delaunay neighbours no further apart than a cell-contact distance.

The contacts are the edges of each sample's Delaunay triangulation (scipy / Qhull, as squidpy's Delaunay graph)
of length at most ``cap``. A whole slide is triangulated in vertical strips, on every core, and the result is
exactly the edges of the one triangulation of the whole sample:

- A strip owns the edges whose midpoint lies in its core ``[lo, hi)``; it triangulates the cells of
  ``[lo - halo, hi + halo]``. Every Delaunay edge of the whole sample owned by the strip is a Delaunay edge
  of that subset (an empty circle stays empty when points are removed), so none is missed.
- An edge of the subset is kept only with a certificate that it is an edge of the whole: a circle through its
  two cells, empty of the subset's cells, that lies inside the strip's x-range (no cell outside the subset
  can then be inside it). The circles through an edge that are empty are those centred between the
  circumcentres of its two triangles (its Voronoi edge); the smallest of them is tested.
- A strip with an owned short edge that has no certificate (cells far apart on both sides: sparse tissue, a
  gap wider than the halo) is triangulated again with twice the halo; once that would take more than four
  times its first subset of cells (or half the sample), the sample is triangulated once, whole, instead. A sample
  costs about one triangulation of itself as a rule, and at worst a few.

Cells are triangulated in an order set by their coordinates only, so the contacts do not depend on the order
of the cells; strips hold about :data:`STRIP_CELLS` cells, so a tissue section of a few thousand cells is one
strip, as before.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.spatial import Delaunay, QhullError

__all__ = ["STRIP_CELLS", "cores", "touching_edges"]

#: Cells per strip of a whole-slide triangulation (Qhull is fastest on strips of this size, and 2 cores share them).
STRIP_CELLS = 60_000
#: First halo around a strip's core, in contact distances (doubled while some owned edge lacks a certificate).
HALO_CONTACTS = 8.0
#: A strip widens to at most this many times its first subset before the whole sample is triangulated instead.
_WIDEST = 4


@dataclass(frozen=True)
class _Strip:
    order: np.ndarray  # the sample's cells sorted by x, then y
    x: np.ndarray  # their x
    lo: float  # the core this strip owns: midpoints in [lo, hi)
    hi: float
    sample: int = 0  # which sample (strips of one sample share ``order``)


def cores() -> int:
    """CPU cores this process may run on (graph builders use them all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _circumcentres(p: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    a = p[simplices[:, 0]]
    b = p[simplices[:, 1]] - a
    c = p[simplices[:, 2]] - a
    bb, cc = (b * b).sum(axis=1), (c * c).sum(axis=1)
    d = 2.0 * (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):  # flat triangles: no finite centre, never certified
        centre = np.column_stack([(c[:, 1] * bb - b[:, 1] * cc) / d, (b[:, 0] * cc - c[:, 0] * bb) / d])
    return a + centre


def _edges_of(
    p: np.ndarray, tri: Delaunay, *, core: tuple[float, float], cap: float, region: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owned edges of at most ``cap`` as (first, second, certified), positions in ``p``."""
    simplices, neighbours = tri.simplices, tri.neighbors
    lo, hi = core
    centres = _circumcentres(p, simplices)
    own = np.arange(len(simplices))
    firsts, seconds, certs = [], [], []
    for k in range(3):
        nb = neighbours[:, k]
        once = (nb < 0) | (own < nb)  # each interior edge from the triangle with the smaller index
        u, v, apex = simplices[once, (k + 1) % 3], simplices[once, (k + 2) % 3], simplices[once, k]
        mid = (p[u] + p[v]) / 2.0
        e = p[v] - p[u]
        length = np.hypot(e[:, 0], e[:, 1])
        keep = (length <= cap) & (mid[:, 0] >= lo) & (mid[:, 0] < hi)
        u, v, apex, mid, e, length = u[keep], v[keep], apex[keep], mid[keep], e[keep], length[keep]
        tri_idx, nb_idx = own[once][keep], nb[once][keep]
        normal = np.column_stack([-e[:, 1], e[:, 0]]) / length[:, None]
        t_own = ((centres[tri_idx] - mid) * normal).sum(axis=1)
        inner = nb_idx >= 0
        t_nb = np.where(inner, ((centres[np.maximum(nb_idx, 0)] - mid) * normal).sum(axis=1), 0.0)
        # A hull edge: the empty circles run from its triangle's circumcentre away from the apex, to infinity.
        away = np.where(((p[apex] - mid) * normal).sum(axis=1) > 0, -np.inf, np.inf)
        t_other = np.where(inner, t_nb, away)
        with np.errstate(invalid="ignore"):
            t = np.clip(0.0, np.minimum(t_own, t_other), np.maximum(t_own, t_other))
            cx = mid[:, 0] + t * normal[:, 0]
            radius = np.sqrt(length**2 / 4.0 + t**2)
            margin = 1e-9 * max(1.0, abs(lo) if np.isfinite(lo) else 0.0, abs(hi) if np.isfinite(hi) else 0.0)
            certified = (cx - radius > region[0] + margin) & (cx + radius < region[1] - margin)
        firsts.append(u)
        seconds.append(v)
        certs.append(certified)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(certs)


def _strip_edges(xy: np.ndarray, strip: _Strip, cap: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The certified contacts a strip owns, as global cell indices ``(i, j)``, ``i < j``.

    ``None`` when the strip would have to widen to more than ``_WIDEST`` times its first subset of cells, or
    half of its sample: the caller then triangulates the sample once as a whole, rather than once per strip.
    """
    halo = HALO_CONTACTS * cap
    limit = None  # set by the first subset
    while True:
        start = int(np.searchsorted(strip.x, strip.lo - halo, side="left"))
        stop = int(np.searchsorted(strip.x, strip.hi + halo, side="right"))
        whole = start == 0 and stop == len(strip.x)
        if limit is None:
            limit = max(stop - start, min(len(strip.x) // 2, _WIDEST * (stop - start)))
        elif not whole and stop - start > limit:
            return None
        region = (-np.inf, np.inf) if whole else (strip.lo - halo, strip.hi + halo)
        members = strip.order[start:stop]
        try:
            tri = Delaunay(xy[members]) if len(members) >= 4 else None  # a triangle and one more
        except QhullError:  # the subset is flat (all on one line): widen it
            tri = None
        if tri is not None:
            u, v, certified = _edges_of(xy[members], tri, core=(strip.lo, strip.hi), cap=cap, region=region)
            if whole or certified.all():
                a, b = members[u], members[v]
                return np.minimum(a, b), np.maximum(a, b)
        elif whole:  # the sample was checked to triangulate; a flat subset can only be widened to it
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        halo *= 2.0


def _strips(xy: np.ndarray, members: np.ndarray, sample: int = 0) -> list[_Strip]:
    points = xy[members]
    order = members[np.lexsort((points[:, 1], points[:, 0]))]
    x = xy[order, 0]
    k = max(1, round(len(order) / STRIP_CELLS))
    bounds = np.unique(x[(np.arange(1, k) * len(order)) // k])
    edges = [-np.inf, *bounds.tolist(), np.inf]
    return [_Strip(order, x, lo, hi, sample) for lo, hi in itertools.pairwise(edges)]


def _triangulable(points: np.ndarray) -> bool:
    return len(points) >= 4 and np.linalg.matrix_rank(points - points.mean(axis=0)) == 2


def touching_edges(xy_units: np.ndarray, lib: np.ndarray, cap_units: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of cells that touch: Delaunay neighbours no further apart than ``cap_units``.

    Each sample ``lib`` is triangulated on its own (in strips on every core for whole slides; the edges are those
    of its single triangulation, see the module docstring) and its edges pruned to at most ``cap_units``: each
    cell keeps the few neighbours around it (about six) whose centres are close enough for their outlines to
    meet. A sample too small or too flat to triangulate (fewer than four cells, or all on one line) has no
    contacts. Pairs are returned sorted.
    """
    xy = np.ascontiguousarray(xy_units, dtype=np.float64)
    by_sample = np.argsort(lib, kind="stable")
    bounds = np.flatnonzero(np.diff(np.asarray(lib)[by_sample])) + 1
    groups = [members for members in np.split(by_sample, bounds) if _triangulable(xy[members])]
    strips = [s for k, members in enumerate(groups) for s in _strips(xy, members, k)]
    if not strips:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    cap = float(cap_units)
    with ThreadPoolExecutor(max_workers=min(cores(), len(strips))) as pool:
        found = list(pool.map(lambda s: _strip_edges(xy, s, cap), strips))
        # samples with a strip that gave up: one triangulation of the whole sample replaces all its strips
        redo = {s.sample: s for s, f in zip(strips, found, strict=True) if f is None}
        whole = [_Strip(s.order, s.x, -np.inf, np.inf, s.sample) for s in redo.values()]
        found = [f for s, f in zip(strips, found, strict=True) if s.sample not in redo]
        found += list(pool.map(lambda s: _strip_edges(xy, s, cap), whole))
    rows = np.concatenate([r for r, _ in found]).astype(np.int64)
    cols = np.concatenate([c for _, c in found]).astype(np.int64)
    order = np.lexsort((cols, rows))
    return rows[order], cols[order]
