"""Plots of the frameworks draw the values the calls stored: quadrants, percentiles, CD8 tiles."""

from __future__ import annotations

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()


@pytest.fixture(scope="module")
def cohort():
    """Four fields with PD-L1 on a third of the tumour, classified under every cell framework (Immunoscore against a
    reference of 30 tumours, 20-1,500 T cells per mm^2)."""
    fields = [tk.datasets.synthetic_tissue(p, rng=k, sample_id=p, pdl1=(0.3, 0.05) if k % 2 else (0.0, 0.0))
              for k, p in enumerate(("inflamed", "excluded", "desert", "dispersed"))]  # fmt: skip
    adata = ad.concat(fields, merge="first")
    rules = ["cd8_density", "til_pdl1", "immunoscore", "patterns4", "intratumoral_stromal"]
    reference = pd.DataFrame({k: np.linspace(20, 1500, 30) for k in ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")})
    tk.tl.classify(
        adata,
        rules=rules,
        library_key="sample_id",
        microns_per_unit=1.0,
        immunoscore_reference=reference,
        cell_types={**LABELS, "t": ["CD8T", "CD4T"], "pdl1": "pdl1"},
    )
    return adata, tk.get.phenotypes(adata)


def test_til_pdl1_quadrants(cohort):
    _, table = cohort
    fig = tk.pl.til_pdl1(table)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(table)
    assert {ln.get_xdata()[0] for ln in ax.lines} >= {100.0} and {ln.get_ydata()[0] for ln in ax.lines} >= {1.0}
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "T2: adaptive immune resistance" in texts and "T1: immunological ignorance" in texts
    y = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    np.testing.assert_allclose(np.sort(y), np.sort(table["tps"].to_numpy()))
    plt.close(fig)


def test_immunoscore_bars_are_the_percentiles(cohort):
    _, table = cohort
    fig = tk.pl.immunoscore(table)
    ax = fig.axes[0]
    heights = np.array([p.get_height() for p in ax.patches])
    assert len(heights) == 4 * len(table)
    expected = table[[f"percentile_{d}" for d in ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")]].to_numpy().T.ravel()
    np.testing.assert_allclose(heights, expected)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert all(f"(I{int(i)})" in lab for lab, i in zip(labels, table["immunoscore_i"], strict=True))
    plt.close(fig)


def test_cd8_tiles_draws_each_tumour_tile(cohort):
    adata, table = cohort
    fig = tk.pl.cd8_tiles(adata, "dispersed")
    rects = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    outlined = [p for p in rects if p.get_linewidth() > 1 and p.get_edgecolor()[3] > 0]
    assert len(rects) > 10
    # share of hot tiles among tumour tiles is what patterns4 read (up to the slivers it leaves out)
    assert len(outlined) / len(rects) == pytest.approx(table.loc["dispersed", "share_tiles_hot"], abs=0.15)
    with pytest.raises(KeyError, match="not found"):
        tk.pl.cd8_tiles(adata, "nowhere")
    plt.close(fig)


def test_infiltration_draws_any_framework(cohort):
    _, table = cohort
    fig = tk.pl.infiltration(table, rules="intratumoral_stromal")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "share of tumour tiles inflamed"
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(table)
    with pytest.raises(ValueError, match="was not applied"):
        tk.pl.infiltration(table, rules="keren2018")
    plt.close(fig)


def test_report_has_a_part_per_framework(cohort):
    adata, table = cohort
    page = tk.report.html({"fields": adata})
    section = page.split('<section id="frameworks">')[1].split("</section>")[0]
    for rule in ("cd8_density", "til_pdl1", "immunoscore", "patterns4", "intratumoral_stromal"):
        assert f"<h3>{rule}</h3>" in section
    assert section.count("data:image/png;base64,") == 5  # one evidence figure per framework
    assert "Teng" in section and "Pages" in section  # each with its source
    counts = table["phenotype_patterns4"].astype(str).value_counts()
    assert all(f"<th>{call}</th>" in section for call in counts.index)
