"""PD-L1 plots draw what the IC score counted: the IC plane of ``til_pdl1`` and the per-sample PD-L1 map."""

from __future__ import annotations

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pytest

import tmekit as tk
from tmekit.pl._pdl1 import PDL1_COLORS

LABELS = tk.datasets.synthetic_labels()
REGION = ("tumour core", "invasive margin")


@pytest.fixture(scope="module")
def fields():
    """Three fields with PD-L1+ immune cells at 0-30%, classified with the IC score (PD-L1 as an obs column)."""
    parts = [tk.datasets.synthetic_tissue(p, rng=k, sample_id=p, pdl1=(0.2, share))
             for k, (p, share) in enumerate((("inflamed", 0.3), ("excluded", 0.1), ("desert", 0.0)))]  # fmt: skip
    adata = ad.concat(parts, merge="first")
    adata.obs["pdl1"] = adata.obs["pdl1"].astype(float)
    unread = np.flatnonzero(adata.obs["cell_type"].isin(LABELS["immune"]) & (adata.obs["sample_id"] == "inflamed"))
    adata.obs.iloc[unread[:30], adata.obs.columns.get_loc("pdl1")] = np.nan  # immune cells whose status was not read
    tk.tl.classify(adata, rules=["til_pdl1_ic", "til_pdl1"], library_key="sample_id", microns_per_unit=1.0,
                   cell_types={**LABELS, "pdl1": "pdl1"}, n_boot=20, rng=0)  # fmt: skip
    return adata, tk.get.phenotypes(adata)


def _by_hand(adata, name):
    own = adata[adata.obs["sample_id"] == name].obs
    immune = own["cell_type"].isin(LABELS["immune"]) & own["tmekit_compartment"].isin(REGION)
    status = own["pdl1"]
    return {
        "PD-L1+": int((immune & (status == 1)).sum()),
        "PD-L1-": int((immune & (status == 0)).sum()),
        "unknown": int((immune & status.isna()).sum()),
        "outside": int((own["cell_type"].isin(LABELS["immune"]) & ~own["tmekit_compartment"].isin(REGION)).sum()),
    }


def _drawn(ax):
    out = {}
    for c in ax.collections:
        color = tuple(np.round(c.get_facecolor()[0][:3], 3))
        for group, hex_ in PDL1_COLORS.items():
            if color == tuple(np.round(plt.matplotlib.colors.to_rgb(hex_), 3)):
                out[group] = len(c.get_offsets())
    return out


def test_til_pdl1_ic_plane(fields):
    _, table = fields
    fig = tk.pl.til_pdl1(table, rules="til_pdl1_ic")
    ax = fig.axes[0]
    y = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    np.testing.assert_allclose(np.sort(y), np.sort(table["ic_percent"].to_numpy()))
    dashed = [
        ln.get_ydata()[0] for ln in ax.lines if ln.get_linestyle() == "--" and ln.get_ydata()[0] == ln.get_ydata()[1]
    ]
    assert dashed == [1.0]  # the SP142 cut
    edges = {float(ln.get_ydata()[0]) for ln in ax.lines if ln.get_ydata()[0] == ln.get_ydata()[1]}
    assert edges == {1.0, 5.0, 10.0}
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("IC")] == ["IC1", "IC2", "IC3"]
    low, high = ax.get_ylim()
    assert low < 0 < 15 <= high < 50 and high >= table["ic_percent"].max()
    assert "IC score" in ax.get_ylabel()
    fig2 = tk.pl.til_pdl1(table, rules="til_pdl1")  # TPS keeps 0-100
    assert fig2.axes[0].get_ylim() == (-2, 102)
    plt.close("all")


@pytest.mark.parametrize("name", ["inflamed", "excluded"])
def test_pdl1_map_draws_each_immune_cell_once(fields, name):
    adata, table = fields
    fig, given = plt.subplots()
    assert tk.pl.pdl1_map(adata, name, ax=given) is fig
    expected = {k: v for k, v in _by_hand(adata, name).items() if v}
    assert _drawn(given) == expected
    assert expected["PD-L1+"] > 0 and (name != "inflamed" or expected["unknown"] > 0)
    row = table.loc[name]
    assert f"IC {row['ic_percent']:.2f}% ({row['ic_category']})" in given.get_title()
    assert len(given.images) == 1 and len(given.lines) == 1  # the compartments and the tumour boundary
    legend = [t.get_text() for t in given.get_legend().get_texts()]
    assert "immune, PD-L1+ ({})".format(expected["PD-L1+"]) in legend and "tumour core" in legend
    plt.close(fig)


def test_pdl1_map_reads_pdl1_labels_and_refuses_without_pdl1():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=3, pdl1=(0.0, 0.3))
    positive = adata.obs["pdl1"].to_numpy() & (adata.obs["cell_type"] == "CD8T").to_numpy()
    adata.obs["cell_type"] = adata.obs["cell_type"].astype(str).where(~positive, "CD8T_PDL1+")
    roles = {**LABELS, "immune": [*LABELS["immune"], "CD8T_PDL1+"], "cd8": ["CD8T", "CD8T_PDL1+"]}
    tk.tl.classify(adata, rules="til_pdl1_ic", microns_per_unit=1.0, cell_types={**roles, "pdl1": ["CD8T_PDL1+"]},
                   n_boot=20, rng=0)  # fmt: skip
    fig = tk.pl.pdl1_map(adata)
    obs = adata.obs
    inside = obs["tmekit_compartment"].isin(REGION)
    assert _drawn(fig.axes[0])["PD-L1+"] == int((inside & (obs["cell_type"] == "CD8T_PDL1+")).sum()) > 0
    assert "unknown" not in _drawn(fig.axes[0])  # listed immune labels: every immune cell's status is read
    tk.tl.classify(adata, rules="cd8_density", microns_per_unit=1.0, cell_types=LABELS, key_added="plain")
    with pytest.raises(ValueError, match="no PD-L1 status"):
        tk.pl.pdl1_map(adata, key="plain")
    with pytest.raises(KeyError, match="not found"):
        tk.pl.pdl1_map(adata, "nowhere")
    plt.close("all")
