"""SpatialData in and out (issue 19): the same results as on the AnnData, positions from the table's region, the
tumour-region boundaries as a shapes element that spatialdata-plot draws, and nothing lost on bad input.

The SpatialData objects are built with spatialdata's own models (fixtures ``keren_sdata`` and ``xenium_sdata`` in
conftest.py) from the shipped Keren MIBI fields and the Xenium breast sub-region.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import shapely
import spatialdata as sd
from spatialdata.models import PointsModel, TableModel
from spatialdata.transformations import Identity

import tmekit as tk

KEREN = tk.datasets.keren2018_labels()
KEREN_CALL = {
    "library_key": "patient_id",
    "microns_per_unit": 800 / 2048,
    "cell_types": {"key": "cell_type", "tumor": "Tumour", "immune": KEREN["immune"], "cd8": ["CD8T"]},
}


@pytest.fixture
def keren(keren_sdata):
    return tk.datasets.keren2018_mibi(), keren_sdata


@pytest.fixture
def xenium(xenium_sdata):
    return xenium_sdata


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        return func(*args, **kwargs)


def test_xenium_spatialdata_gives_the_anndata_results(xenium):
    """score, annotate, compartments and classify on the SpatialData equal the AnnData; the table keeps its slots."""
    adata, sdata = xenium
    table = sdata.tables["table"]
    x_before = table.X.copy()
    for data in (adata, sdata):
        _quiet(tk.tl.score, data, ["T-cell exhaustion", "CXCL13+ T cells"], min_overlap=0.3)
        _quiet(tk.tl.annotate, data)  # declares its labels' roles: no label is written below
        tk.sp.compartments(data)
        tk.tl.classify(data, rules="cd8_density,patterns4", microns_per_unit=1.0, overwrite=True)
    assert dict(table.uns["tmekit_cell_types"]) == tk.tl.annotation_labels(adata)
    np.testing.assert_array_equal(tk.get.scores(sdata).to_numpy(), tk.get.scores(adata).to_numpy())
    for column in ("tmekit_cell_type", "tmekit_compartment", "tmekit_tumor_distance", "tmekit_phenotype"):
        assert table.obs[column].astype(str).tolist() == adata.obs[column].astype(str).tolist(), column
    pd.testing.assert_frame_equal(tk.get.phenotypes(sdata), tk.get.phenotypes(adata))
    pd.testing.assert_frame_equal(tk.get.compartments(sdata), tk.get.compartments(adata))
    assert "spatial" not in table.obsm  # positions came from the circles, and were not left behind
    assert (x_before != table.X).nnz == 0
    row = tk.get.phenotypes(sdata).iloc[0]  # the cd8_density rule on the densities it reports
    core, margin = row["density_cd8_core"], row["density_cd8_margin"]
    assert row["phenotype"] == ("inflamed" if core > 100 else "excluded" if margin > 200 else "desert")


def test_boundaries_are_a_shapes_element_drawn_by_spatialdata_plot(xenium):
    import matplotlib.pyplot as plt
    import spatialdata_plot  # noqa: F401  (registers sdata.pl)

    adata, sdata = xenium
    _quiet(tk.tl.annotate, sdata)
    tk.sp.compartments(sdata, cell_types={"key": "tmekit_cell_type", "tumor": ["Epithelial"]})
    shapes = sdata.shapes["tmekit_compartment_boundaries"]
    assert set(shapes["region"]) == {"tumour region", "tumour core", "invasive margin"}
    assert set(sd.transformations.get_transformation(shapes, get_all=True)) == {"global"}
    # the polygons hold the cells of their compartment (positions in global = micrometres here)
    table = sdata.tables["table"]
    cells = shapely.points(adata.obsm["spatial"])
    compartment = table.obs["tmekit_compartment"].astype(str).to_numpy()
    for region, label in (("tumour core", "tumour core"), ("invasive margin", "invasive margin")):
        polygon = shapes.geometry[shapes["region"] == region].iloc[0]
        inside = shapely.contains(polygon, cells)
        assert inside[compartment == label].mean() > 0.95, region
    region = shapes.geometry[shapes["region"] == "tumour region"].iloc[0]
    assert shapely.contains(region, cells)[compartment == "stroma"].mean() < 0.05
    core_mm2 = tk.get.compartments(sdata)["core_area_mm2"].iloc[0]
    assert shapes.geometry[shapes["region"] == "tumour core"].iloc[0].area / 1e6 == pytest.approx(core_mm2, rel=0.1)
    fig, ax = plt.subplots()
    with warnings.catch_warnings():  # spatialdata-plot 0.4 calls matplotlib APIs matplotlib plans to deprecate
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sdata.pl.render_shapes("tmekit_compartment_boundaries", color="region").pl.show(
            ax=ax, coordinate_systems="global"
        )
    drawn = [c for c in ax.collections if len(c.get_paths())]
    assert drawn and sum(len(c.get_paths()) for c in drawn) >= len(shapes)
    lo, hi = np.array(shapes.total_bounds[:2]), np.array(shapes.total_bounds[2:])
    xlim, ylim = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    assert xlim[0] <= lo[0] and xlim[1] >= hi[0] and ylim[0] <= lo[1] and ylim[1] >= hi[1]
    plt.close(fig)


def test_several_regions_in_pixels_give_the_anndata_calls(keren):
    """Four shapes elements (one per patient) in MIBI pixels, microns_per_unit as for the AnnData."""
    adata, sdata = keren
    tk.tl.classify(adata, **KEREN_CALL, rules="keren2018,cd8_density")
    tk.tl.classify(sdata, **KEREN_CALL, rules="keren2018,cd8_density")
    pd.testing.assert_frame_equal(tk.get.phenotypes(sdata), tk.get.phenotypes(adata))
    shapes = sdata.shapes["tmekit_compartment_boundaries"]
    assert set(shapes["sample"]) <= set(adata.obs["patient_id"].astype(str))
    # polygons in the coordinate system's units (pixels): inside the 2048-pixel fields
    assert shapes.total_bounds.min() >= -50 and shapes.total_bounds.max() <= 2048 + 50


def test_copy_returns_a_new_spatialdata_and_leaves_the_input(keren):
    _, sdata = keren
    new = tk.tl.classify(sdata, **KEREN_CALL, copy=True)
    assert isinstance(new, sd.SpatialData) and new is not sdata
    assert "tmekit_phenotype" in new.tables["cells"].uns and "tmekit_compartment_boundaries" in new.shapes
    assert "tmekit_phenotype" not in sdata.tables["cells"].uns and "tmekit_compartment_boundaries" not in sdata.shapes
    assert "spatial" not in new.tables["cells"].obsm and "spatial" not in sdata.tables["cells"].obsm


def test_table_of_points_and_an_existing_obsm_entry(keren):
    """A table annotating points: their positions are used, and the table's own obsm['spatial'] is put back."""
    adata, _ = keren
    frame = pd.DataFrame(adata.obsm["spatial"], columns=["x", "y"])
    points = PointsModel.parse(frame, transformations={"global": Identity()})
    table = adata.copy()
    table.obsm["spatial"] = np.zeros((adata.n_obs, 2))  # a stale entry: the region, not this, gives the positions
    table.obs["region"] = pd.Categorical(["cells"] * adata.n_obs)
    table.obs["cell_id"] = np.arange(adata.n_obs)
    sdata = sd.SpatialData(points={"cells": points},
                           tables={"t": TableModel.parse(table, region="cells", region_key="region",
                                                         instance_key="cell_id")})  # fmt: skip
    own = sdata.tables["t"].obsm["spatial"]
    tk.tl.classify(sdata, **KEREN_CALL)
    tk.tl.classify(adata, **KEREN_CALL)
    pd.testing.assert_frame_equal(tk.get.phenotypes(sdata), tk.get.phenotypes(adata))
    assert sdata.tables["t"].obsm["spatial"] is own


def test_bad_spatialdata_inputs_get_clear_errors_and_change_nothing(keren):
    adata, sdata = keren
    table = sdata.tables["cells"]
    sdata.tables["other"] = TableModel.parse(ad.AnnData(np.zeros((2, 1))))
    with pytest.raises(ValueError, match="pass `table_key=`"):
        tk.tl.classify(sdata, **KEREN_CALL)
    with pytest.raises(KeyError, match="no table 'nope'"):
        tk.tl.classify(sdata, **KEREN_CALL, table_key="nope")
    with pytest.raises(ValueError, match="coordinate_system='aligned'"):
        tk.tl.classify(sdata, **KEREN_CALL, table_key="cells", coordinate_system="aligned")
    with pytest.raises(TypeError, match="choose a table of a SpatialData"):
        tk.tl.classify(adata, **KEREN_CALL, table_key="cells")
    obs, obsm, uns = table.obs.copy(), dict(table.obsm), dict(table.uns)
    with pytest.raises(KeyError):  # a failed call leaves the table and the elements as they were
        tk.tl.classify(sdata, **{**KEREN_CALL, "cell_types": {**KEREN_CALL["cell_types"], "key": "no_such_column"}},
                       table_key="cells")  # fmt: skip
    pd.testing.assert_frame_equal(table.obs, obs)
    assert dict(table.obsm) == obsm and dict(table.uns) == uns and "tmekit_compartment_boundaries" not in sdata.shapes
    # an element of the boundaries' name that tmekit did not write is never replaced silently
    sdata.shapes["tmekit_compartment_boundaries"] = sdata.shapes["fov_1"]
    with pytest.raises(ValueError, match="already has a shapes element 'tmekit_compartment_boundaries'"):
        tk.sp.compartments(
            sdata,
            library_key="patient_id",
            microns_per_unit=800 / 2048,
            table_key="cells",
            cell_types={"key": "cell_type", "tumor": "Tumour"},
        )
    assert "tmekit_compartment" not in table.obs and "tmekit_compartment" not in table.uns


def test_zarr_stores_written_atomically_and_never_onto_the_input(keren, tmp_path):
    _, sdata = keren
    tk.tl.classify(sdata, **KEREN_CALL)
    path = tk.io.write_spatialdata(sdata, tmp_path / "called.zarr")
    assert tk.io.is_spatialdata_store(path) and sorted(p.name for p in tmp_path.iterdir()) == ["called.zarr"]
    back = tk.io.read(path)
    pd.testing.assert_frame_equal(tk.get.phenotypes(back), tk.get.phenotypes(sdata))
    assert len(back.shapes["tmekit_compartment_boundaries"]) == len(sdata.shapes["tmekit_compartment_boundaries"])
    with pytest.raises(FileExistsError):
        tk.io.write_spatialdata(sdata, path)
    with pytest.raises(ValueError, match="read from"):
        tk.io.write_spatialdata(back, path, overwrite=True)
    with pytest.raises(ValueError, match="read from"):
        tk.io.write_spatialdata(back, path / "inside.zarr")
    tk.io.write_spatialdata(sdata, path, overwrite=True)  # a store nobody reads from may be replaced
    assert tk.io.is_spatialdata_store(path) and sorted(p.name for p in tmp_path.iterdir()) == ["called.zarr"]
    with pytest.raises(IsADirectoryError, match="SpatialData zarr store"):
        tk.io.read_h5ad(path)
