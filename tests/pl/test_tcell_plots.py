"""The T-cell state plot and report section draw the shares the table holds."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import tmekit as tk


@pytest.fixture(scope="module")
def states(wu_cells):
    adata = wu_cells.copy()
    adata.obs["half"] = np.where(np.arange(adata.n_obs) % 2, "b", "a")  # two samples of the same tumour
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        tk.tl.annotate(adata)
        tk.tl.tcell_states(adata, library_key="half", min_cd8_cells=5)
    return adata, tk.get.tcell_states(adata)


def test_a_targeted_panel_stacks_its_unsplit_share():
    """A table from a panel that cannot split progenitor vs terminal: the NaN states draw nothing, the unsplit share
    is stacked after effector/memory and other, and each bar reaches the sample's total."""
    table = pd.DataFrame({
        "frac_progenitor_exhausted": [np.nan], "frac_terminal_exhausted": [np.nan], "frac_effector_memory": [0.25],
        "frac_other": [0.35], "frac_exhausted_unsplit": [0.4], "n_cd8": [20], "status": ["ok"],
    }, index=["s"])  # fmt: skip
    ax = tk.pl.tcell_states(table).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [0.0, 0.0, 0.25, 0.35, 0.4]
    assert ax.patches[-1].get_y() == pytest.approx(0.6)
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "exhausted unsplit"
    plt.close("all")


def test_stacked_bars_are_the_shares(states):
    _, table = states
    fig = tk.pl.tcell_states(table, groupby={"a": "responder?", "b": "unknown"})
    ax = fig.axes[0]
    heights = np.array([p.get_height() for p in ax.patches[: 4 * len(table)]]).reshape(4, len(table))
    expected = table[[f"frac_{s}" for s in tk.tl.TCELL_STATES]].to_numpy().T
    np.testing.assert_allclose(heights, np.nan_to_num(expected))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\nresponder?", "b\nunknown"]
    with pytest.raises(ValueError, match="no group for samples"):
        tk.pl.tcell_states(table, groupby={"a": "x"})
    with pytest.raises(KeyError, match=r"Not a `tk\.get\.tcell_states` table"):
        tk.pl.tcell_states(pd.DataFrame({"x": [1]}))
    plt.close("all")


def test_report_section(states):
    adata, table = states
    page = tk.report.html({"wu": adata})
    section = page.split('<section id="tcell_states">')[1].split("</section>")[0]
    assert section.count("data:image/png;base64,") == 1
    assert all(f"<th>{s}</th>" in section for s in table.index)
