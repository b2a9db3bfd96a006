"""SpatialData in and out: every function that takes an AnnData also takes a ``SpatialData`` with ``table_key=``.

tmekit runs on the table itself (``sdata.tables[table_key]``, default: the only table), so results land in it
exactly as in an AnnData: the same obs columns, obsm and uns entries. Positions come from the table's region, the
shapes, points or labels element(s) it annotates (``spatialdata_attrs``): the centroids of each cell's element
(:func:`spatialdata.get_centroids`) in ``coordinate_system`` (default: the region's only coordinate system, else
``"global"``), so the element's transformation into it applies; ``microns_per_unit`` then says what one unit of that
coordinate system is, as for an AnnData. During the call the positions sit in ``table.obsm[spatial_key]``;
afterwards the table's own entry there (or its absence) is put back. A table that annotates no element uses its own
``obsm[spatial_key]``.

The tumour region, core and invasive margin of :func:`tmekit.sp.compartments` (also written by
:func:`tmekit.tl.classify`) are added as a shapes element ``<key>_boundaries`` (one (Multi)Polygon per sample and
region, columns ``sample`` and ``region``) in the same coordinate system, for spatialdata-plot and
napari-spatialdata. Cells: the filled contours of the stored compartment grid; spots: the union of discs of 0.72
spot pitches around the spots of each compartment (enough to close the gaps of hexagonal and square grids).
Replacing an existing element of that name needs ``overwrite=True``, like the results themselves.

``spatialdata`` is imported only when a SpatialData object is passed (it is one already, then).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from tmekit._transaction import restored_on_error

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping

    from anndata import AnnData

__all__ = [
    "BOUNDARY_REGIONS",
    "accepts_spatialdata",
    "as_anndata",
    "boundary_shapes",
    "is_spatialdata",
    "region_positions",
]

F = TypeVar("F", bound="Callable[..., Any]")
#: The polygons of the boundaries element, per sample.
BOUNDARY_REGIONS = ("tumour region", "tumour core", "invasive margin")
_SPOT_DISC = 0.72  # disc radius in spot pitches: covers the gaps between neighbouring spots on square and hex grids
_NOTE = """
    table_key, coordinate_system
        When ``adata`` is a :class:`spatialdata.SpatialData`: the table tmekit works on (default: the only one;
        results go into it) and the coordinate system of its cells' shapes, points or labels (default: their only
        one, else ``"global"``); with ``copy=True`` a new SpatialData is returned. See ``tmekit._spatialdata``."""


def is_spatialdata(obj: object) -> bool:
    """Whether ``obj`` is a SpatialData (without importing spatialdata when nobody has)."""
    module = sys.modules.get("spatialdata")
    return module is not None and isinstance(obj, module.SpatialData)


def table_name(sdata: Any, table_key: str | None) -> str:
    """The table tmekit works on: ``table_key``, or the only one."""
    names = list(sdata.tables)
    if table_key is None:
        if len(names) == 1:
            return names[0]
        if names:
            msg = f"The SpatialData has {len(names)} tables {names}: pass `table_key=` naming the one with the cells."
        else:
            msg = (
                "The SpatialData has no table: tmekit reads cells x genes from one. Add it with "
                "`sdata.tables['table'] = spatialdata.models.TableModel.parse(adata, region=..., region_key=..., "
                "instance_key=...)`."
            )
        raise ValueError(msg)
    if table_key not in sdata.tables:
        msg = f"The SpatialData has no table {table_key!r}; its tables are {names}. Pass one of them as `table_key=`."
        raise KeyError(msg)
    return table_key


def _coordinate_system(sdata: Any, names: list[str], requested: str | None) -> str:
    from spatialdata.transformations import get_transformation

    systems = {n: sorted(get_transformation(sdata[n], get_all=True)) for n in names}
    common = set.intersection(*(set(v) for v in systems.values()))
    if not common:
        msg = (
            f"The table's region elements share no coordinate system ({systems}), so their cells cannot be placed "
            "in one frame. Give them one, e.g. `spatialdata.transformations.set_transformation(sdata[name], "
            "Identity(), to_coordinate_system='global')` for each element, then pass `coordinate_system='global'`."
        )
        raise ValueError(msg)
    if requested is not None:
        if requested not in common:
            msg = (
                f"coordinate_system={requested!r}: the table's region {names} is not in it; its coordinate systems "
                f"are {sorted(common)}. Pass one of them."
            )
            raise ValueError(msg)
        return requested
    if len(common) == 1:
        return next(iter(common))
    if "global" in common:
        return "global"
    msg = f"The table's region {names} is in coordinate systems {sorted(common)}: pass `coordinate_system=`."
    raise ValueError(msg)


def region_positions(sdata: Any, table: AnnData, *, coordinate_system: str | None) -> tuple[np.ndarray, str] | None:
    """(n_obs, 2) centroids of the elements the table annotates, in the chosen coordinate system; None without."""
    if not table.uns.get("spatialdata_attrs"):
        return None
    import spatialdata as sd
    from spatialdata.models import get_table_keys

    region, region_key, instance_key = get_table_keys(table)
    names = [region] if isinstance(region, str) else list(region)
    present = {name for _, name, _ in sdata.gen_spatial_elements()}
    missing = [n for n in names if n not in present]
    if missing:
        msg = f"The table annotates {missing}, which the SpatialData does not have (its elements: {sorted(present)})."
        raise KeyError(msg)
    cs = _coordinate_system(sdata, names, coordinate_system)
    element_of = table.obs[region_key].astype(str).to_numpy()
    stray = sorted(set(element_of) - set(names))
    if stray:
        n = int((~np.isin(element_of, names)).sum())
        msg = (
            f"{n} rows of the table name regions {stray[:5]} in `table.obs[{region_key!r}]`, which are not among the "
            f"regions the table annotates ({names}): they would have no position. Make the column and the table's "
            "region agree (e.g. `TableModel.parse(table, region=..., region_key=..., instance_key=...)` with every "
            "region), or subset the table to the annotated regions."
        )
        raise KeyError(msg)
    ids = table.obs[instance_key].to_numpy()
    xy = np.full((table.n_obs, 2), np.nan)
    for name in names:
        rows = np.flatnonzero(element_of == name)
        if not len(rows):
            continue
        centres = sd.get_centroids(sdata[name], coordinate_system=cs)
        centres = centres.compute() if hasattr(centres, "compute") else centres
        found = centres.index.get_indexer(pd.Index(ids[rows]))
        if (found < 0).any():
            lost = ids[rows][found < 0]
            msg = (
                f"{len(lost)} rows of the table have {instance_key!r} values that element {name!r} does not have "
                f"(e.g. {list(lost[:3])}): the table and its region disagree. Subset the table to the element's "
                "instances first."
            )
            raise KeyError(msg)
        xy[rows] = centres[["x", "y"]].to_numpy(dtype=np.float64)[found]
    return xy, cs


@contextlib.contextmanager
def _positions_in(table: AnnData, spatial_key: str, xy: np.ndarray) -> Generator[None, None, None]:
    """``table.obsm[spatial_key] = xy`` for the block; then the table's own entry (or none) again."""
    had = spatial_key in table.obsm
    original = table.obsm[spatial_key] if had else None
    table.obsm[spatial_key] = xy
    try:
        yield
    finally:
        if had:
            table.obsm[spatial_key] = original
        elif spatial_key in table.obsm:
            del table.obsm[spatial_key]


def as_anndata(
    data: Any, *, table_key: str | None = None, coordinate_system: str | None = None, spatial_key: str = "spatial"
) -> AnnData:
    """An AnnData to read from: ``data`` itself, or a SpatialData's table with its region's positions in obsm.

    The new object shares X, obs, var and uns with the table (nothing is copied); for readers such as the report.
    """
    if not is_spatialdata(data):
        return data
    import anndata as ad

    table = data.tables[table_name(data, table_key)]
    found = region_positions(data, table, coordinate_system=coordinate_system)
    if found is None:
        return table
    obsm = {**dict(table.obsm.items()), spatial_key: found[0]}
    return ad.AnnData(X=table.X, obs=table.obs, var=table.var, obsm=obsm, uns=table.uns, layers=dict(table.layers))


# ------------------------------------------------------------------------------------------ boundary polygons
def _is_compartments(value: object) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("params"), dict):
        return False
    return value["params"].get("mode") in {"cells", "spots"} and isinstance(value.get("samples"), dict)


def _mask_polygons(mask: np.ndarray, origin: np.ndarray, pixel: float) -> Any:
    """The filled contour (at 0.5) of a boolean pixel grid (rows = y) as one (Multi)Polygon, in micrometres."""
    import contourpy
    import shapely

    padded = np.pad(np.asarray(mask, dtype=np.float64), 1)  # closed outlines where the region meets the grid's edge
    gx = origin[0] + (np.arange(padded.shape[1]) - 0.5) * pixel
    gy = origin[1] + (np.arange(padded.shape[0]) - 0.5) * pixel
    gen = contourpy.contour_generator(gx, gy, padded, fill_type=contourpy.FillType.OuterOffset)
    points, offsets = gen.filled(0.5, 1.5)
    polygons = []
    for pts, offs in zip(points, offsets, strict=True):
        rings = [pts[offs[i] : offs[i + 1]] for i in range(len(offs) - 1)]
        polygons.append(shapely.Polygon(rings[0], rings[1:]))
    return shapely.make_valid(shapely.MultiPolygon(polygons)) if polygons else shapely.MultiPolygon()


def _cell_polygons(sample: Mapping[str, Any]) -> dict[str, Any]:
    grid = sample["grid"]
    code, inside = np.asarray(grid["compartment"]), np.asarray(grid["inside"], dtype=bool)
    origin, pixel = np.asarray(grid["origin_um"], dtype=np.float64), float(grid["pixel_um"])
    masks = dict(zip(BOUNDARY_REGIONS, (inside, code == 0, code == 1), strict=True))
    return {region: _mask_polygons(mask, origin, pixel) for region, mask in masks.items()}


def _spot_polygons(xy_um: np.ndarray, signed: np.ndarray, *, halfwidth: float, pitch: float) -> dict[str, Any]:
    import shapely

    masks = dict(zip(BOUNDARY_REGIONS, (signed < 0, signed <= -halfwidth, np.abs(signed) < halfwidth), strict=True))
    discs = shapely.buffer(shapely.points(xy_um), _SPOT_DISC * pitch, quad_segs=4) if len(xy_um) else np.array([])
    return {region: shapely.union_all(discs[mask]) for region, mask in masks.items()}


def boundary_shapes(table: AnnData, key: str, *, coordinate_system: str, spatial_key: str) -> Any:
    """The shapes element for ``table.uns[key]`` (a compartments result), in the coordinate system's units."""
    import geopandas as gpd
    import shapely
    from spatialdata.models import ShapesModel
    from spatialdata.transformations import Identity

    info = table.uns[key]
    params = info["params"]
    per_unit = float(params.get("microns_per_unit", 1.0))
    rows: list[tuple[str, str, Any]] = []
    if params["mode"] == "spots":
        xy_um = np.asarray(table.obsm[spatial_key], dtype=np.float64)[:, :2] * per_unit
        signed = np.asarray(table.obs[info["distance_key"]], dtype=np.float64)
        library = params.get("library_key") or None
        names = table.obs[library].astype(str).to_numpy() if library else np.full(table.n_obs, "all")
    for sample, summary in info["samples"].items():
        if params["mode"] == "cells":
            polygons = _cell_polygons(summary)
        else:
            idx = np.flatnonzero(names == sample)
            polygons = _spot_polygons(xy_um[idx], signed[idx], halfwidth=float(summary["margin_halfwidth_um"]),
                                      pitch=float(params["pitch_um"]))  # fmt: skip
        for region, geometry in polygons.items():
            if not geometry.is_empty:
                scaled = shapely.transform(geometry, lambda p: p / per_unit)
                rows.append((str(sample), region, scaled))
    frame = gpd.GeoDataFrame(
        {
            "sample": pd.Categorical([r[0] for r in rows], categories=list(info["samples"])),
            "region": pd.Categorical([r[1] for r in rows], categories=list(BOUNDARY_REGIONS)),
        },
        geometry=[r[2] for r in rows],
    )
    return ShapesModel.parse(frame, transformations={coordinate_system: Identity()})


def _new_boundaries(
    sdata: Any, table: AnnData, before: Mapping[str, object], *, coordinate_system: str | None, spatial_key: str | None,
    overwrite: bool,
) -> dict[str, Any]:  # fmt: skip
    """Shapes elements for the compartment results written since ``before``; refuses to replace without overwrite."""
    written = [k for k, v in table.uns.items() if (k not in before or before[k] is not v) and _is_compartments(v)]
    present = {name: kind for kind, name, _ in sdata.gen_elements()}
    shapes = {}
    for key in written:
        name = f"{key}_boundaries"
        if name in present and (present[name] != "shapes" or not overwrite):
            msg = (
                f"The SpatialData already has a {present[name]} element {name!r}. Pass `overwrite=True` to replace "
                "it with the new tumour-region boundaries, or `key_added=` for another name."
            )
            raise ValueError(msg)
        shapes[name] = boundary_shapes(table, key, coordinate_system=coordinate_system or "global",
                                       spatial_key=spatial_key or "spatial")  # fmt: skip
    return shapes


# ------------------------------------------------------------------------------------------ the decorator
def _with_spatialdata(func: Callable[..., Any], sdata: Any, args: tuple, kwargs: dict, *, table_key: str | None,
                      coordinate_system: str | None, spatial_default: str | None) -> Any:  # fmt: skip
    key = table_name(sdata, table_key)
    if kwargs.get("copy"):  # the same call, in place, on a new SpatialData holding a copy of the table
        import spatialdata as sd

        elements = {kind: dict(getattr(sdata, kind)) for kind in ("images", "labels", "points", "shapes")}
        tables = {**sdata.tables, key: sdata.tables[key].copy()}
        new = sd.SpatialData(**elements, tables=tables, attrs=dict(sdata.attrs))
        _with_spatialdata(func, new, args, {**kwargs, "copy": False}, table_key=key,
                          coordinate_system=coordinate_system, spatial_default=spatial_default)  # fmt: skip
        return new
    table = sdata.tables[key]
    spatial_key = kwargs.get("spatial_key", spatial_default)
    found = region_positions(sdata, table, coordinate_system=coordinate_system) if spatial_key else None
    cs = found[1] if found else coordinate_system
    before = dict(table.uns.items())
    with restored_on_error(table):
        with _positions_in(table, spatial_key, found[0]) if found else contextlib.nullcontext():
            result = func(table, *args, **kwargs)
            shapes = _new_boundaries(sdata, table, before, coordinate_system=cs, spatial_key=spatial_key,
                                     overwrite=bool(kwargs.get("overwrite")))  # fmt: skip
        for name, element in shapes.items():
            sdata.shapes[name] = element
    return result


def accepts_spatialdata(func: F) -> F:
    """Let ``func(adata, ...)`` take a SpatialData too, with keyword-only ``table_key=`` and ``coordinate_system=``.

    With ``copy=True`` a SpatialData input gives a new SpatialData (the same elements, the new table and
    boundaries); otherwise results go into the table (and the boundaries into ``sdata.shapes``).
    """
    sig = inspect.signature(func)
    spatial = sig.parameters.get("spatial_key")
    spatial_default = spatial.default if spatial is not None else None

    @functools.wraps(func)
    def wrapper(adata: Any, *args: Any, table_key: str | None = None, coordinate_system: str | None = None,
                **kwargs: Any) -> Any:  # fmt: skip
        if is_spatialdata(adata):
            return _with_spatialdata(func, adata, args, kwargs, table_key=table_key,
                                     coordinate_system=coordinate_system, spatial_default=spatial_default)  # fmt: skip
        if table_key is not None or coordinate_system is not None:
            msg = (
                f"`table_key=`/`coordinate_system=` choose a table of a SpatialData, but {func.__name__}() got a "
                f"{type(adata).__name__}. Pass the SpatialData, or leave them out."
            )
            raise TypeError(msg)
        return func(adata, *args, **kwargs)

    params = list(sig.parameters.values())
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None")
             for name in ("table_key", "coordinate_system")]  # fmt: skip
    at = next((i for i, p in enumerate(params) if p.kind == p.VAR_KEYWORD), len(params))
    first = params[0].replace(annotation=f"{params[0].annotation} | SpatialData")
    wrapper.__signature__ = sig.replace(parameters=[first, *params[1:at], *extra, *params[at:]])  # type: ignore[attr-defined]
    if wrapper.__doc__:
        wrapper.__doc__ = _with_note(wrapper.__doc__)
    return wrapper  # type: ignore[return-value]


def _with_note(doc: str) -> str:
    """The docstring with the SpatialData paragraph at the end of its Parameters section (or at the end)."""
    text = inspect.cleandoc(doc)
    note = inspect.cleandoc(_NOTE)
    for header in ("\nReturns\n-------", "\nExamples\n--------", "\nNotes\n-----"):
        if header in text:
            head, tail = text.split(header, 1)
            return f"{head.rstrip()}\n{note}\n{header}{tail}"
    return f"{text}\n\n{note}"
