"""CD8 T-cell states: known mixtures of real T cells give back their shares; each sample stands alone."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk

EXHAUSTED = ["Exhausted Cd8+ cells", "Exhausted/HS Cd8+ cells"]
MEMORY = ["Memory T-cells"]


@pytest.fixture(scope="module")
def sade(shared_data):
    cells = ad.read_h5ad(shared_data / "sade_feldman_melanoma" / "sade_feldman_tcells550.h5ad")
    cd8 = np.asarray(cells[:, ["CD8A", "CD8B"]].X.sum(axis=1)).ravel() > 0  # CD8 by its genes: the user's labels
    cells.obs["t_type"] = np.where(cd8, "CD8", "other")
    return cells[cd8].copy()


def _states(adata: ad.AnnData, **kwargs) -> pd.DataFrame:
    tk.tl.tcell_states(adata, cell_type_key="t_type", cd8_labels=["CD8"], **kwargs)
    return tk.get.tcell_states(adata)


def test_pure_clusters_are_called_as_the_paper_clustered_them(sade):
    """The per-cell agreement with the paper's clusters sets the tolerance of the mixtures below."""
    adata = sade.copy()
    _states(adata)
    state = adata.obs["tmekit_tcell_state"].astype(str)
    kind = adata.obs["cell_type_paper"].astype(str)
    exhausted = state.isin(["progenitor_exhausted", "terminal_exhausted"])
    assert exhausted[kind.isin(EXHAUSTED)].mean() >= 0.85  # measured 0.91
    assert exhausted[kind.isin(MEMORY)].mean() <= 0.2  # measured 0.14 (a few PD-1-programme memory cells)
    assert (state[kind.isin(MEMORY)] == "effector_memory").mean() >= 0.7  # measured 0.74


@pytest.mark.parametrize("share", [0.2, 0.5, 0.8])
def test_mixtures_of_real_t_cells_give_back_their_shares(sade, share):
    """40 CD8 T cells per sample, `share` of them from the paper's exhausted clusters and the rest from its memory
    cluster. Tolerance 0.15: the per-cell error on pure clusters (<= 0.14) plus the sampling of 40 cells."""
    kind = sade.obs["cell_type_paper"].astype(str).to_numpy()
    gen = np.random.default_rng(int(share * 10))
    n_ex = round(40 * share)
    pick = np.concatenate([gen.choice(np.flatnonzero(np.isin(kind, EXHAUSTED)), n_ex, replace=False),
                           gen.choice(np.flatnonzero(np.isin(kind, MEMORY)), 40 - n_ex, replace=False)])  # fmt: skip
    mixture = sade[pick].copy()
    mixture.obs["sample"] = f"mix{share}"
    row = _states(mixture, library_key="sample").iloc[0]
    found = row["frac_progenitor_exhausted"] + row["frac_terminal_exhausted"]
    assert found == pytest.approx(share, abs=0.15)
    assert row["frac_effector_memory"] == pytest.approx(1 - share, abs=0.25)


def test_each_sample_stands_alone_and_cell_order_does_not_matter(sade):
    adata = sade.copy()
    table = _states(adata, library_key="patient_id")
    one = str(table.index[0])
    alone = sade[sade.obs["patient_id"].astype(str) == one].copy()
    pd.testing.assert_series_equal(_states(alone, library_key="patient_id").loc[one], table.loc[one])
    shuffled = sade[np.random.default_rng(0).permutation(sade.n_obs)].copy()
    pd.testing.assert_frame_equal(_states(shuffled, library_key="patient_id").loc[table.index], table)


def test_the_19_patients_table(sade):
    table = _states(sade.copy(), library_key="patient_id")
    assert len(table) == 19
    called = table[table["status"] == "ok"]
    shares = called[[f"frac_{s}" for s in tk.tl.TCELL_STATES]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    assert (called["n_cd8"] >= 10).all() and table.loc[table["status"] != "ok", "frac_other"].isna().all()
    ratio = called["progenitor_terminal_ratio"].dropna()
    expected = called.loc[ratio.index, "n_progenitor_exhausted"] / called.loc[ratio.index, "n_terminal_exhausted"]
    np.testing.assert_allclose(ratio, expected)


def test_protein_markers_by_hand():
    """A multiplex panel: PD-1 / TIM-3 / TCF1 as obs booleans, states by the documented rule."""
    obs = pd.DataFrame({
        "cell_type": ["CD8T"] * 6 + ["Tumour"] * 2,
        "pd1": [True, True, True, False, False, True, False, False],
        "tim3": [False, True, False, False, False, pd.NA, False, False],
        "tcf1": [True, False, False, True, False, True, False, False],
        "sample": ["a"] * 8,
    }, index=[f"c{i}" for i in range(8)])  # fmt: skip
    obs[["pd1", "tim3", "tcf1"]] = obs[["pd1", "tim3", "tcf1"]].astype("boolean")
    adata = ad.AnnData(obs=obs)
    tk.tl.tcell_states(adata, library_key="sample", cell_type_key="cell_type", cd8_labels=["CD8T"],
                       markers={"PD-1": "pd1", "TIM-3": "tim3", "TCF1": "tcf1"}, min_cd8_cells=5)  # fmt: skip
    states = adata.obs["tmekit_tcell_state"].astype(str).tolist()
    assert states[:6] == ["progenitor_exhausted", "terminal_exhausted", "other", "effector_memory", "other", "other"]
    assert states[6:] == ["nan", "nan"]  # not CD8 T cells
    row = tk.get.tcell_states(adata).loc["a"]
    assert (row["n_cd8"], row["frac_progenitor_exhausted"], row["progenitor_terminal_ratio"]) == (6, 1 / 6, 1.0)
    assert adata.uns["tmekit_tcell_state"]["params"]["marker_rules"]["PD-1"].endswith("as given")


def test_rna_on_the_bundled_tumour_with_hypoxia(wu_cells):
    adata = wu_cells.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        tk.tl.annotate(adata)
        tk.tl.tcell_states(adata, library_key="sample_id", tumor_labels=["Epithelial"], min_cd8_cells=5)
    row = tk.get.tcell_states(adata).iloc[0]
    assert row["n_cd8"] == (adata.obs["tmekit_cell_type"] == "CD8 T").sum() > 5
    assert 0 < row["hypoxia_tumor"] < 1 and row["n_tumor"] == (adata.obs["tmekit_cell_type"] == "Epithelial").sum()
    scores = adata.obsm["tmekit_tcell_state_scores"]
    assert list(scores.columns) == ["exhausted", "terminal", "stemness", "memory"]
    assert scores.loc[adata.obs["tmekit_cell_type"] != "CD8 T"].isna().all().all()


def test_bad_inputs(wu_cells):
    adata = wu_cells.copy()
    with pytest.raises(ValueError, match="Which cells are CD8 T cells"):
        tk.tl.tcell_states(adata)
    adata.obs["kind"] = "CD8"
    with pytest.raises(ValueError, match=r"needs PD-1, TIM-3 and TCF1.*missing \['TCF1'\]"):
        tk.tl.tcell_states(adata, cell_type_key="kind", cd8_labels=["CD8"], markers={"PD-1": "CD8A", "TIM-3": "HAVCR2"})
    with pytest.raises(ValueError, match="min_cd8_cells"):
        tk.tl.tcell_states(adata, cell_type_key="kind", cd8_labels=["CD8"], min_cd8_cells=0)
    assert "tmekit_tcell_state" not in adata.obs and "tmekit_tcell_state" not in adata.uns
