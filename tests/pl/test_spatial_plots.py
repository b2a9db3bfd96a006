"""Spatial plots and the report on cells and spots: they draw the values stored."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()


def _classify(adata, rules, **kwargs):
    tk.tl.classify(adata, rules=rules, overwrite=True, cell_types={**LABELS, **kwargs.pop("cell_types", {})}, **kwargs)
    return tk.get.phenotypes(adata)


def test_plots_return_figures_and_draw_what_they_say(tmp_path):
    import matplotlib.pyplot as plt

    adata = tk.datasets.synthetic_tissue("excluded", rng=0)
    table = _classify(adata, "cd8_density")
    fig = tk.pl.compartments(adata)
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # the three compartments
    boundary = adata.uns["tmekit_compartment"]["samples"]["all"]["boundary_um"]
    assert len(ax.lines) == 1 and len(boundary) > 10  # the stored boundary, drawn as it is
    np.testing.assert_array_equal(np.column_stack(ax.lines[0].get_data()), boundary)
    inside = np.isfinite(boundary[:, 0])  # the boundary runs where the signed distance changes sign
    nearest = cKDTree(adata.obsm["spatial"]).query(boundary[inside])[1]
    assert np.median(np.abs(adata.obs["tmekit_tumor_distance"].to_numpy()[nearest])) < 20
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(tk.sp.COMPARTMENTS)
    fig2, given = plt.subplots()
    assert tk.pl.infiltration(table, ax=given) is fig2
    assert given.get_xlabel().startswith("CD8")
    lines = {round(line.get_xdata()[0]) for line in given.lines} | {round(line.get_ydata()[0]) for line in given.lines}
    assert {100, 200} <= lines  # the thresholds are drawn
    fig.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    plt.close("all")
    with pytest.raises(KeyError, match="compartments"):
        tk.pl.compartments(tk.datasets.synthetic_tissue("desert", rng=0))


CLEAR = ("inflamed", "excluded", "desert")


@pytest.fixture(scope="module")
def synthetic(synthetic_spot_tissues):
    """The session's synthetic spot tissues (shared by every test file that needs them)."""
    return synthetic_spot_tissues


def test_plots_and_report_on_spot_data(synthetic, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    spots = synthetic["excluded", 0].copy()
    tk.tl.classify(spots)
    table = tk.get.phenotypes(spots)
    fig = tk.pl.compartments(spots)
    ax = fig.axes[0]
    assert ax.get_title().startswith("all: spot compartments")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["tumour core", "invasive margin", "stroma"]
    assert len(ax.collections) >= 3  # one disc collection per compartment (+ the boundary)
    fig = tk.pl.infiltration(table)
    assert "CD8 T fraction" in fig.axes[0].get_xlabel()
    out = tk.report.html({"spots": spots}, tmp_path / "spots.html")
    text = out.read_text() if hasattr(out, "read_text") else (tmp_path / "spots.html").read_text()
    assert "spot_cd8" in text and "excluded: 1" in text and "inflamed: 0" in text  # the call, counted
