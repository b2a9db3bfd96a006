"""Seeded synthetic spatial tissues whose immune phenotype is known by construction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from tmekit._constants import CELL_TYPES_KEY

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["SYNTHETIC_DENSITIES", "calibration_sweep", "synthetic_labels", "synthetic_tissue"]

#: Immune placement per phenotype: CD8 T cells per mm^2 inside the tumour nest, in the 50 um band around
#: it, and in the rest of the stroma; other immune cells (CD4 T, macrophages) per mm^2 likewise.
#: Chosen far from the default thresholds of both rule sets (CD8 core 100 / margin 200 per mm^2; Keren
#: mixing 0.22, 250 immune cells per 800 um field), except the "near_*" cases, which sit at them.
SYNTHETIC_DENSITIES: dict[str, dict[str, tuple[float, float, float]]] = {
    "inflamed": {"cd8": (600.0, 300.0, 150.0), "other": (500.0, 300.0, 200.0)},
    "excluded": {"cd8": (8.0, 1500.0, 1000.0), "other": (10.0, 1500.0, 1200.0)},
    "desert": {"cd8": (3.0, 6.0, 6.0), "other": (5.0, 20.0, 20.0)},
    "near_inflamed": {"cd8": (115.0, 150.0, 80.0), "other": (100.0, 150.0, 120.0)},
    "near_excluded": {"cd8": (40.0, 380.0, 120.0), "other": (40.0, 380.0, 150.0)},
    "dispersed": {"cd8": (600.0, 150.0, 80.0), "other": (150.0, 150.0, 100.0)},
}
#: ``dispersed``: the nest's CD8 T cells stay in patches (discs of 1/10 of the field's side) that together cover
#: this share of the tumour, so only part of the tumour's tiles are densely infiltrated.
_PATCH_SHARE = 0.2
_TUMOUR_DENSITY = 4000.0  # tumour cells per mm^2 inside nests (~16 um spacing)
_STROMA_DENSITY = 1200.0  # non-immune stromal cells per mm^2 outside nests
_MARGIN_BAND = 50.0  # um: where "margin" immune cells are placed, each side of the nest edge


def _poisson_points(rng: np.random.Generator, density_per_mm2: float, size_um: float) -> np.ndarray:
    n = rng.poisson(density_per_mm2 * (size_um / 1000) ** 2)
    return rng.uniform(0, size_um, size=(n, 2))


def _place_nests(gen: np.random.Generator, n_nests: int, radius: float, size_um: float) -> list[np.ndarray]:
    """Centres of nests that do not overlap and keep their band inside the field.

    Random sequential placement, started again (up to 100 times) when a layout jams.
    """
    for _layout in range(100):
        centres: list[np.ndarray] = []
        for _ in range(n_nests):
            for _attempt in range(500):
                c = gen.uniform(radius + _MARGIN_BAND, size_um - radius - _MARGIN_BAND, size=2)
                if all(np.linalg.norm(c - o) > 2 * radius + 2 * _MARGIN_BAND for o in centres):
                    centres.append(c)
                    break
            else:
                break
        if len(centres) == n_nests:
            return centres
    msg = f"Cannot place {n_nests} separate nests in a {size_um} um field; use fewer nests or a larger field."
    raise ValueError(msg)


def _patches(gen: np.random.Generator, tumour: np.ndarray, size_um: float) -> np.ndarray:
    """Centres of patch discs (radius 1/10 of the field) on tumour cells until they cover :data:`_PATCH_SHARE`."""
    radius, centres = size_um / 10, []
    covered = np.zeros(len(tumour), dtype=bool)
    while covered.mean() < _PATCH_SHARE:
        c = tumour[gen.integers(len(tumour))]
        centres.append(c)
        covered |= np.hypot(*(tumour - c).T) <= radius
    return np.asarray(centres)


def synthetic_tissue(
    phenotype: Literal["inflamed", "excluded", "desert", "near_inflamed", "near_excluded", "dispersed"] = "inflamed",
    *,
    size_um: float = 800.0,
    n_nests: int = 1,
    rng: np.random.Generator | int | None = 0,
    sample_id: str | None = None,
    densities: Mapping[str, Sequence[float]] | None = None,
    nest_shape: Literal["disc", "irregular"] = "disc",
    pdl1: tuple[float, float] = (0.0, 0.0),
) -> ad.AnnData:
    """A seeded square field of tissue with tumour nests, stroma and immune cells placed by phenotype.

    Tumour cells fill ``n_nests`` discs (together about a third of the field); stromal cells fill the
    rest. CD8 T cells and other immune cells (CD4 T, macrophages) are placed by Poisson processes with
    the densities in :data:`SYNTHETIC_DENSITIES`: inside the nests, in a 50 um band around them, and in the
    remaining stroma. So the phenotype is known by construction:

    - ``inflamed``: CD8 T cells throughout the tumour (600 per mm^2) and mixed with tumour cells;
    - ``excluded``: immune cells crowd the band around the nest (1,500 per mm^2) and the stroma but hardly
      enter the nest;
    - ``desert``: few immune cells anywhere;
    - ``near_inflamed`` / ``near_excluded``: densities just beyond the CD8-density thresholds, for
      testing that confidence drops near a decision boundary;
    - ``dispersed``: dense CD8 T cells (600 per mm^2) in patches that cover a fifth of the tumour, few elsewhere
      (a patchy infiltrate: dispersed under ``patterns4``, although its mean core density reads inflamed).

    Parameters
    ----------
    phenotype
        Which placement to use.
    size_um
        Side of the square field in micrometres (800 um = one MIBI field).
    n_nests
        Number of tumour nests.
    rng
        Seed or generator; the same seed gives the same tissue.
    sample_id
        Value of ``obs["sample_id"]`` (default: the phenotype).
    nest_shape
        ``"disc"``, or ``"irregular"``: each nest the union of 3-5 overlapping lobes inside its disc (a lumpy,
        concave outline, as carcinoma nests have), for testing that regions follow the tissue.
    densities
        Placement of your own instead of the phenotype's: ``{"cd8": (nest, band, stroma), "other": (...)}``
        in cells per mm^2 (a missing key keeps the phenotype's). For sweeps across a rule's thresholds.
    pdl1
        Shares of tumour cells and of immune cells that are PD-L1 positive (``obs["pdl1"]``, boolean), drawn at
        random: e.g. ``(0.6, 0.2)`` gives a tumour proportion score of about 60%.

    Returns
    -------
    AnnData with no genes (``X`` is empty), ``obs["cell_type"]`` (Tumour, Stroma, CD8T, CD4T,
    Macrophage), ``obs["truth_region"]`` (nest / band / stroma: where the cell was placed),
    ``obs["sample_id"]``, and coordinates in micrometres in ``obsm["spatial"]`` and ``obs["x"]``,
    ``obs["y"]``. ``uns["synthetic_tissue"]`` records the parameters and the expected phenotype.

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("excluded", rng=0)
    >>> tk.tl.classify(adata)  # the roles come declared; positions are micrometres
    >>> tk.get.phenotypes(adata)["phenotype"].tolist(), adata.uns["synthetic_tissue"]["expected"]
    (['excluded'], 'excluded')
    """
    if phenotype not in SYNTHETIC_DENSITIES:
        msg = f"Unknown phenotype {phenotype!r}; choose from {list(SYNTHETIC_DENSITIES)}."
        raise ValueError(msg)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    radius = size_um * np.sqrt(0.33 / (np.pi * n_nests))
    if size_um < 2 * (radius + _MARGIN_BAND):
        msg = f"A {size_um} um field is too small for a tumour nest and its {_MARGIN_BAND:.0f} um band; use >= 300 um."
        raise ValueError(msg)
    centres = _place_nests(gen, n_nests, radius, size_um)

    lobes = [(c, radius) for c in centres]
    if nest_shape == "irregular":  # each nest: 3-5 overlapping lobes inside its disc (a lumpy, concave outline)
        lobes = []
        for c in centres:
            lobes.append((c, radius * gen.uniform(0.55, 0.7)))
            for _lobe in range(int(gen.integers(2, 5))):
                r = radius * gen.uniform(0.3, 0.45)
                angle = gen.uniform(0, 2 * np.pi)
                offset = (radius - r) * gen.uniform(0.6, 1.0)
                lobes.append((c + offset * np.array([np.cos(angle), np.sin(angle)]), r))
    elif nest_shape != "disc":
        msg = f"Unknown nest_shape={nest_shape!r}: use 'disc' or 'irregular'."
        raise ValueError(msg)

    def edge_distance(points: np.ndarray) -> np.ndarray:
        """Distance to the nearest nest edge: exact outside the nests (the union of their lobes), negative inside."""
        out = np.full(len(points), np.inf)
        for c, r in lobes:  # one lobe at a time: memory of one distance vector, not one per lobe
            np.minimum(out, np.hypot(points[:, 0] - c[0], points[:, 1] - c[1]) - r, out=out)
        return out

    def region(points: np.ndarray) -> np.ndarray:
        d = edge_distance(points)
        return np.where(d < 0, "nest", np.where(d < _MARGIN_BAND, "band", "stroma"))

    parts = []
    tumour = _poisson_points(gen, _TUMOUR_DENSITY, size_um)
    parts.append((tumour[edge_distance(tumour) < 0], "Tumour"))
    stroma = _poisson_points(gen, _STROMA_DENSITY, size_um)
    parts.append((stroma[edge_distance(stroma) >= 0], "Stroma"))
    if densities is not None and (set(densities) - {"cd8", "other"} or any(len(v) != 3 for v in densities.values())):
        msg = f"`densities` takes 'cd8' and 'other', each (nest, band, stroma) cells per mm^2; got {dict(densities)}."
        raise ValueError(msg)
    spec = {**SYNTHETIC_DENSITIES[phenotype], **{k: tuple(map(float, v)) for k, v in (densities or {}).items()}}
    patches = _patches(gen, parts[0][0], size_um) if phenotype == "dispersed" and densities is None else None
    for key, types in (("cd8", ("CD8T",)), ("other", ("CD4T", "Macrophage"))):
        for where, density in zip(("nest", "band", "stroma"), spec[key], strict=True):
            for cell_type in types:
                pts = _poisson_points(gen, density / len(types), size_um)
                keep = region(pts) == where
                if patches is not None and key == "cd8" and where == "nest":
                    keep &= cKDTree(patches).query(pts, distance_upper_bound=size_um / 10)[0] <= size_um / 10
                parts.append((pts[keep], cell_type))
    coords = np.concatenate([p for p, _ in parts])
    labels = np.repeat([t for _, t in parts], [len(p) for p, _ in parts])
    if not all(0.0 <= f <= 1.0 for f in pdl1) or len(pdl1) != 2:
        msg = f"`pdl1` takes two shares in [0, 1] (tumour cells, immune cells); got {pdl1}."
        raise ValueError(msg)
    share = np.select([labels == "Tumour", np.isin(labels, ["CD8T", "CD4T", "Macrophage"])], list(pdl1), 0.0)
    positive = gen.random(len(labels)) < share if any(pdl1) else np.zeros(len(labels), dtype=bool)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(labels, categories=["Tumour", "Stroma", "CD8T", "CD4T", "Macrophage"]),
            "pdl1": positive,
            "truth_region": pd.Categorical(region(coords), categories=["nest", "band", "stroma"]),
            "sample_id": sample_id or phenotype,
            "x": coords[:, 0],
            "y": coords[:, 1],
        },
        index=[f"{sample_id or phenotype}_{i}" for i in range(len(coords))],
    )
    adata = ad.AnnData(obs=obs, obsm={"spatial": coords})
    adata.uns["synthetic_tissue"] = {
        "phenotype": phenotype,
        "expected": phenotype.removeprefix("near_") if densities is None else "",
        "densities": {k: list(v) for k, v in spec.items()},
        "size_um": float(size_um),
        "n_nests": int(n_nests),
        "nest_radius_um": float(radius),
        "nest_shape": nest_shape,
        "pdl1": [float(f) for f in pdl1],
        "margin_band_um": _MARGIN_BAND,
        "units": "micrometres",
    }
    adata.uns[CELL_TYPES_KEY] = synthetic_labels()
    return adata


def synthetic_labels() -> dict[str, Any]:
    """The cell types' roles in :func:`synthetic_tissue`, as :func:`tmekit.pp.cell_types` takes them (declared).

    Returns
    -------
    ``{"key", "tumor", "immune", "cd8"}``, the keyword arguments of :func:`tmekit.pp.cell_types`.

    Examples
    --------
    >>> tk.datasets.synthetic_labels()
    {'key': 'cell_type', 'tumor': ['Tumour'], 'immune': ['CD8T', 'CD4T', 'Macrophage'], 'cd8': ['CD8T']}
    """
    return {"key": "cell_type", "tumor": ["Tumour"], "immune": ["CD8T", "CD4T", "Macrophage"], "cd8": ["CD8T"]}


def calibration_sweep(
    n_tissues: int = 100,
    *,
    measurement_cv: float = 0.25,
    size_um: float = 800.0,
    rng: np.random.Generator | int | None = 0,
) -> ad.AnnData:
    """Synthetic fields whose true CD8 densities straddle the ``cd8_density`` thresholds, with the truth per field.

    For checking that a confidence means what it says. Field ``k`` (``obs["sample_id"]`` = ``f"t{k:03d}"``) has one
    nest with CD8 T cells at a true density ``core`` inside it (log-uniform on 30-330 per mm^2, centred on the
    threshold of 100) and a band density chosen so that the true invasive-margin density ``margin`` (the
    area-weighted mean of the 50 um inside and outside the nest edge, the margin of an 800 um field) is
    log-uniform on 60-660 per mm^2 (centred on 200). The cells placed are the true densities times the field's
    measurement factor (log-normal with median 1 and coefficient of variation ``measurement_cv``: what cell typing
    and sectioning do to a real measurement; the default is the one ``tk.tl.classify`` assumes), so the
    *measured* field misrepresents the truth as a real one would. ``uns["calibration_sweep"]`` holds, per
    field, ``core``, ``margin``, the ``factor`` and ``truth``: the call of ``cd8_density`` on the true densities.

    Parameters
    ----------
    n_tissues
        Number of fields.
    measurement_cv
        Coefficient of variation of each field's measurement factor.
    size_um
        Side of each square field in micrometres.
    rng
        Seed or generator.

    Returns
    -------
    AnnData of the fields' cells (as :func:`synthetic_tissue`, one ``sample_id`` per field) with the truth per
    field in ``uns["calibration_sweep"]`` (a DataFrame).

    Examples
    --------
    >>> fields = tk.datasets.calibration_sweep(10, rng=0)
    >>> tk.tl.classify(fields, library_key="sample_id", cell_types=tk.datasets.synthetic_labels())
    >>> truth = fields.uns["calibration_sweep"]["truth"]
    >>> calls = tk.get.phenotypes(fields)["phenotype"].astype(str)
    >>> int((calls == truth).sum())  # the measurement error moved one field across a threshold
    9
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    radius = size_um * np.sqrt(0.33 / np.pi)
    inner = np.pi * (radius**2 - (radius - _MARGIN_BAND) ** 2)
    outer = np.pi * ((radius + _MARGIN_BAND) ** 2 - radius**2)
    sigma = np.sqrt(np.log1p(measurement_cv**2))
    parts, rows = [], {}
    for k in range(n_tissues):
        core, margin = (
            np.exp(gen.uniform(np.log(30.0), np.log(330.0))),
            np.exp(gen.uniform(np.log(60.0), np.log(660.0))),
        )
        band = max((margin * (inner + outer) - core * inner) / outer, 0.0)
        factor = float(np.exp(gen.normal(0.0, sigma))) if measurement_cv > 0 else 1.0  # median 1
        name = f"t{k:03d}"
        cd8 = (core * factor, band * factor, band * factor / 2)
        parts.append(synthetic_tissue("inflamed", size_um=size_um, rng=gen, sample_id=name,
                                      densities={"cd8": cd8, "other": (100.0, 150.0, 100.0)}))  # fmt: skip
        truth = "inflamed" if core > 100 else "excluded" if margin > 200 else "desert"
        rows[name] = {"core": core, "margin": margin, "factor": factor, "truth": truth}
    adata = ad.concat(parts, merge="first")
    adata.uns["calibration_sweep"] = pd.DataFrame.from_dict(rows, orient="index")
    adata.uns["calibration_sweep_params"] = {"measurement_cv": float(measurement_cv), "size_um": float(size_um)}
    return adata
