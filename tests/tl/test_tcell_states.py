"""CD8 T-cell states: known mixtures of real T cells give back their shares; each sample stands alone."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk
from tmekit.tl._tcell_states import PROGRAMMES

EXHAUSTED = ["Exhausted Cd8+ cells", "Exhausted/HS Cd8+ cells"]
MEMORY = ["Memory T-cells"]


@pytest.fixture(scope="module")
def sade(shared_data):
    cells = ad.read_h5ad(shared_data / "sade_feldman_melanoma" / "sade_feldman_tcells550.h5ad")
    cd8 = np.asarray(cells[:, ["CD8A", "CD8B"]].X.sum(axis=1)).ravel() > 0  # CD8 by its genes: the user's labels
    cells.obs["t_type"] = np.where(cd8, "CD8", "other")
    return cells[cd8].copy()


def _states(adata: ad.AnnData, **kwargs) -> pd.DataFrame:
    tk.tl.tcell_states(adata, cell_types={"key": "t_type", "cd8": ["CD8"], **kwargs.pop("cell_types", {})}, **kwargs)
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
    tk.tl.tcell_states(
        adata,
        library_key="sample",
        markers={"PD-1": "pd1", "TIM-3": "tim3", "TCF1": "tcf1"},
        min_cd8_cells=5,
        cell_types={"key": "cell_type", "cd8": ["CD8T"]},
    )
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
        tk.tl.tcell_states(adata, library_key="sample_id", min_cd8_cells=5, cell_types={"tumor": ["Epithelial"]})
    row = tk.get.tcell_states(adata).iloc[0]
    assert row["n_cd8"] == (adata.obs["tmekit_cell_type"] == "CD8 T").sum() > 5
    assert 0 < row["hypoxia_tumor"] < 1 and row["n_tumor"] == (adata.obs["tmekit_cell_type"] == "Epithelial").sum()
    scores = adata.obsm["tmekit_tcell_state_scores"]
    assert list(scores.columns) == ["exhausted", "terminal", "stemness", "memory"]
    assert scores.loc[adata.obs["tmekit_cell_type"] != "CD8 T"].isna().all().all()


def test_bad_inputs(wu_cells):
    adata = wu_cells.copy()
    with pytest.raises(ValueError, match=r"needs the cell types' roles 'key' \(the obs column of cell types\), 'cd8'"):
        tk.tl.tcell_states(adata)
    adata.obs["kind"] = "CD8"
    with pytest.raises(ValueError, match=r"No CD8 T-cell state can be decided from the markers given \(\['PD-1'\]"):
        tk.tl.tcell_states(adata, markers={"PD-1": "CD8A"}, cell_types={"key": "kind", "cd8": ["CD8"]})
    with pytest.raises(ValueError, match=r"Unknown `markers` \['PD1'\]"):
        tk.tl.tcell_states(adata, markers={"PD1": "CD8A", "TCF1": "TCF7"}, cell_types={"key": "kind", "cd8": ["CD8"]})
    with pytest.raises(ValueError, match="min_cd8_cells"):
        tk.tl.tcell_states(adata, min_cd8_cells=0, cell_types={"key": "kind", "cd8": ["CD8"]})
    assert "tmekit_tcell_state" not in adata.obs and "tmekit_tcell_state" not in adata.uns


# ------------------------------------------------------------------------- the rules at their thresholds, by hand
PROGRAMME_GENES = {
    "exhausted": ["TOX", "PDCD1", "LAG3", "TIGIT", "HAVCR2"],
    "terminal": ["HAVCR2", "LAYN", "LAG3", "GZMB", "ENTPD1"],
    "stemness": ["LEF1", "CCR7", "TCF7", "SELL"],
    "memory": ["IL7R", "TCF7", "REL", "FOXP1", "FOSL2", "STAT4"],
}  # the shipped programmes (signatures/sets), checked against the library below
MAX_RANK = 10
#: CD8 T cells by their expressed genes, each with its state by the documented rule (scores worked out below).
RNA_CELLS = {
    # exhausted 0.514 and stemness 0.8 on, stemness above terminal (0): progenitor
    "progenitor": (dict.fromkeys(["TOX", "PDCD1", "TIGIT", "LEF1", "CCR7", "TCF7", "SELL"], 1.0),
                   "progenitor_exhausted"),
    # exhausted and stemness on, stemness = terminal = 0.3: not above it, so terminal
    "tie": ({"TIGIT": 2.0, "LAG3": 1.0, "FOSL2": 2.0, "FOXP1": 2.0, "CCR7": 3.0, "LAYN": 2.0}, "terminal_exhausted"),
    # stemness 0.383 on but below terminal 0.457: terminal
    "terminal_above": ({"SELL": 3.0, "STAT4": 2.0, "PDCD1": 1.0, "FOSL2": 2.0, "HAVCR2": 3.0, "LAYN": 3.0,
                        "TCF7": 1.0}, "terminal_exhausted"),
    # exhausted 0.4 on; stemness 0.133 off (< 0.15) though above terminal (0): terminal
    "stemness_off": ({"LEF1": 2.0, "STAT4": 3.0, "FOXP1": 3.0, "TIGIT": 3.0, "REL": 3.0, "TOX": 3.0, "FOSL2": 1.0},
                     "terminal_exhausted"),
    # exhausted off (0); stemness 0.567 on and above terminal (0): effector/memory, not progenitor
    "stemness_only": ({"LEF1": 1.0, "CCR7": 1.0}, "effector_memory"),
    # only the memory-like programme on (0.205): effector/memory
    "memory_only": ({"FOSL2": 2.0, "LAYN": 2.0, "ENTPD1": 2.0}, "effector_memory"),
    # only the terminal programme on (0.257): without the shared exhausted programme, other
    "terminal_only": ({"GZMB": 1.0}, "other"),
    # the same with CXCL13 and CCR5 detected (terminal 0.229: GZMB ranks 2 among three tied genes): other
    "cxcl13": ({"GZMB": 1.0, "CXCL13": 1.0, "CCR5": 1.0}, "other"),
}  # fmt: skip


def _ucell(cell: dict[str, float], genes: list[str]) -> float:
    """UCell by hand: each gene's rank among the cell's expressed values (1 = highest, ties averaged, at most
    ``MAX_RANK``; not expressed: ``MAX_RANK``); U = 1 - (sum of ranks - n(n+1)/2) / (n MAX_RANK - n(n+1)/2)."""
    values = [v for v in cell.values() if v > 0]

    def rank(v: float) -> float:
        return min(1 + sum(x > v for x in values) + (sum(x == v for x in values) - 1) / 2, MAX_RANK)

    total = sum(rank(cell[g]) if cell.get(g, 0) > 0 else MAX_RANK for g in genes)
    n = len(genes)
    return 1 - (total - n * (n + 1) / 2) / (n * MAX_RANK - n * (n + 1) / 2)


def _rna(cells: dict[str, dict[str, float]]) -> ad.AnnData:
    """The cells as counts of the programme genes (and CXCL13, CCR5), one sample ``s``."""
    genes = sorted({g for v in PROGRAMME_GENES.values() for g in v} | {"CXCL13", "CCR5"})
    X = np.array([[cell.get(g, 0.0) for g in genes] for cell in cells.values()])
    obs = pd.DataFrame({"t_type": "CD8", "sample": "s"}, index=list(cells))
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))


def test_rna_state_rules_on_hand_scored_cells():
    for name, genes in PROGRAMME_GENES.items():
        assert sorted(tk.signatures.get(PROGRAMMES[name]).genes) == sorted(genes)
    cells = {k: v[0] for k, v in RNA_CELLS.items()}
    adata = _rna(cells)
    _states(adata, library_key="sample", max_rank=MAX_RANK, min_cd8_cells=1)
    scores = adata.obsm["tmekit_tcell_state_scores"]
    for name, cell in cells.items():
        by_hand = {p: _ucell(cell, genes) for p, genes in PROGRAMME_GENES.items()}
        np.testing.assert_allclose(scores.loc[name, list(by_hand)].to_numpy(float), list(by_hand.values()),
                                   rtol=0, atol=1e-12, err_msg=name)  # fmt: skip
    assert scores.loc["tie", "stemness"] == scores.loc["tie", "terminal"]  # an exact tie
    states = adata.obs["tmekit_tcell_state"].astype(str).to_dict()
    assert states == {k: v[1] for k, v in RNA_CELLS.items()}
    # CXCL13+ = CXCL13 detected (> 0): one cell of eight, which also has CCR5; the others hold 0
    assert adata.obs["tmekit_tcell_state_cxcl13"].tolist() == [name == "cxcl13" for name in cells]
    row = tk.get.tcell_states(adata).loc["s"]
    assert (row["n_cd8"], row["frac_cxcl13"], row["frac_cxcl13_ccr5"]) == (8, 1 / 8, 1 / 8)
    assert (row["n_progenitor_exhausted"], row["n_terminal_exhausted"], row["n_effector_memory"]) == (1, 3, 2)


def test_rna_min_score_is_on_at_the_score():
    """``min_score`` at a cell's exhausted score: on (progenitor); just above it: off (then its stemness alone
    makes it effector/memory). The memory-only cell at its memory score: effector/memory; just above: other."""
    cells = {k: RNA_CELLS[k][0] for k in ("progenitor", "memory_only")}
    exhausted = _ucell(cells["progenitor"], PROGRAMME_GENES["exhausted"])
    memory = _ucell(cells["memory_only"], PROGRAMME_GENES["memory"])
    cases = [
        (exhausted, "progenitor", "progenitor_exhausted"),
        (float(np.nextafter(exhausted, 1)), "progenitor", "effector_memory"),
        (memory, "memory_only", "effector_memory"),
        (float(np.nextafter(memory, 1)), "memory_only", "other"),
    ]
    for min_score, name, expected in cases:
        adata = _rna(cells)
        _states(adata, max_rank=MAX_RANK, min_cd8_cells=1, min_score=min_score)
        scores = adata.obsm["tmekit_tcell_state_scores"]
        assert (scores.loc["progenitor", "exhausted"], scores.loc["memory_only", "memory"]) == (exhausted, memory)
        assert adata.obs.loc[name, "tmekit_tcell_state"] == expected, (min_score, name)


def test_protein_intensities_at_their_thresholds_and_cd39():
    """Intensities are positive above their threshold (at it: negative). Terminal: PD-1+ with TIM-3+ or CD39+;
    progenitor: PD-1+ TIM-3- TCF1+ otherwise; effector/memory: PD-1- TCF1+; an unknown PD-1 is neither."""
    obs = pd.DataFrame({
        "cell_type": ["CD8T"] * 10,
        "pd1": [2.5, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, np.nan, 0.3, 2.5],
        "tim3": [0.4, 0.4, 1.0, 1.5, 0.4, 0.4, 0.4, 0.4, 1.5, 1.5],
        "tcf1": [0.7, 0.7, 0.7, 0.7, 0.7, 0.5, 0.7, 0.7, 0.7, 0.2],
        "cd39": [1.5, 1.5, 1.5, 1.5, 3.5, 1.5, 3.0, 1.5, 1.5, 1.5],
    }, index=[f"c{i}" for i in range(10)])  # fmt: skip
    expected = ["progenitor_exhausted", "effector_memory", "progenitor_exhausted", "terminal_exhausted",
                "terminal_exhausted", "other", "progenitor_exhausted", "other", "effector_memory",
                "terminal_exhausted"]  # fmt: skip
    markers = {"PD-1": "pd1", "TIM-3": "tim3", "TCF1": "tcf1", "CD39": "cd39"}
    cuts = {"PD-1": 2.0, "TIM-3": 1.0, "TCF1": 0.5, "CD39": 3.0}
    for min_cd8, status in ((10, "ok"), (11, "indeterminate")):
        adata = ad.AnnData(obs=obs.copy())
        tk.tl.tcell_states(
            adata,
            markers=markers,
            marker_thresholds=cuts,
            min_cd8_cells=min_cd8,
            cell_types={"key": "cell_type", "cd8": ["CD8T"]},
        )
        assert adata.obs["tmekit_tcell_state"].astype(str).tolist() == expected
        row = tk.get.tcell_states(adata).loc["all"]
        assert (row["n_cd8"], row["n_progenitor_exhausted"], row["n_terminal_exhausted"]) == (10, 3, 3)
        assert row["status"] == status
        if status == "ok":
            assert (row["frac_effector_memory"], row["progenitor_terminal_ratio"]) == (0.2, 1.0)
            assert row["memory_exhausted_ratio"] == 2 / 6
        else:
            assert np.isnan(row["frac_effector_memory"]) and np.isnan(row["progenitor_terminal_ratio"])
            assert row["reason"] == "only 10 CD8 T cells (< min_cd8_cells=11)"
    assert adata.uns["tmekit_tcell_state"]["params"]["marker_rules"]["PD-1"] == "obs['pd1']: positive above 2.0"


# ------------------------------------------------------------------- targeted panels: what is measured, and only that
def _panel(cells: dict[str, dict[str, float]], drop: set[str]) -> ad.AnnData:
    full = _rna(cells)
    return full[:, [g for g in full.var_names if g not in drop]].copy()


def test_a_panel_without_cxcl13_keeps_every_state_and_leaves_the_flags_unmeasured():
    """The same cells with and without CXCL13 / CCR5: identical states and shares (though the cxcl13 cell's
    terminal score moves, 0.229 -> 0.257, as GZMB no longer ties with them); the flags NaN, not 0."""
    cells = {k: v[0] for k, v in RNA_CELLS.items()}
    full, panel = _rna(cells), _panel(cells, {"CXCL13", "CCR5"})
    _states(full, library_key="sample", max_rank=MAX_RANK, min_cd8_cells=1)
    with pytest.warns(tk.MissingGenesWarning, match=r"cxcl13 \(the object has no CXCL13 gene\); cxcl13_ccr5 \(the "
                      r"object has no CXCL13 or CCR5 gene\)") as caught:  # fmt: skip
        _states(panel, library_key="sample", max_rank=MAX_RANK, min_cd8_cells=1)
    assert len(caught) == 1 and caught[0].filename == __file__
    moved = [x.obsm["tmekit_tcell_state_scores"].loc["cxcl13", "terminal"] for x in (full, panel)]
    by_hand = [_ucell(cells["cxcl13"], PROGRAMME_GENES["terminal"]), _ucell({"GZMB": 1.0}, PROGRAMME_GENES["terminal"])]
    np.testing.assert_allclose(moved, by_hand, rtol=0, atol=1e-12)
    assert by_hand[0] < by_hand[1]
    assert full.obs["tmekit_tcell_state"].tolist() == panel.obs["tmekit_tcell_state"].tolist()
    assert list(panel.obs["tmekit_tcell_state"].cat.categories) == list(tk.tl.TCELL_STATES)
    one, other = tk.get.tcell_states(full).loc["s"], tk.get.tcell_states(panel).loc["s"]
    same = [c for c in one.index if not c.startswith("frac_cxcl13")]
    pd.testing.assert_series_equal(one[same], other[same])
    assert (one["frac_cxcl13"], one["frac_cxcl13_ccr5"]) == (1 / 8, 1 / 8)
    assert np.isnan(other["frac_cxcl13"]) and np.isnan(other["frac_cxcl13_ccr5"])
    assert panel.obs["tmekit_tcell_state_cxcl13"].isna().all()
    assert set(panel.uns["tmekit_tcell_state"]["params"]["not_measured"]) == {"cxcl13", "cxcl13_ccr5"}
    no_ccr5 = _panel(cells, {"CCR5"})  # CXCL13 alone: its flag measured, the pair not
    with pytest.warns(tk.MissingGenesWarning, match=r"cxcl13_ccr5 \(the object has no CCR5 gene\)\. Data"):
        _states(no_ccr5, library_key="sample", max_rank=MAX_RANK, min_cd8_cells=1)
    row = tk.get.tcell_states(no_ccr5).loc["s"]
    assert row["frac_cxcl13"] == 1 / 8 and np.isnan(row["frac_cxcl13_ccr5"])


#: The hand-scored cells on a panel without the stemness genes (LEF1, CCR7, TCF7, SELL; memory-like keeps 5 of its
#: 6): progenitor vs terminal cannot be decided, effector/memory is read from the memory-like programme alone.
NO_STEMNESS = {
    "progenitor": "exhausted_unsplit",  # TOX, PDCD1, TIGIT tied at rank 2: exhausted 1 - (26 - 15) / 35 = 0.686
    "tie": "exhausted_unsplit",  # TIGIT 2.5, LAG3 5, the rest 10: exhausted 1 - 22.5 / 35 = 0.357
    "terminal_above": "exhausted_unsplit",
    "stemness_off": "exhausted_unsplit",
    "stemness_only": "other",  # nothing left expressed: every score 0 (effector/memory by its stemness alone before)
    "memory_only": "effector_memory",  # FOSL2 rank 2 of 5 memory-like genes: 1 - (42 - 15) / 35 = 0.229
    "terminal_only": "other",
    "cxcl13": "other",
}


def test_a_panel_without_the_stemness_genes():
    cells = {k: v[0] for k, v in RNA_CELLS.items()}
    stemness = set(PROGRAMME_GENES["stemness"])
    panel = _panel(cells, stemness)
    with pytest.warns(tk.MissingGenesWarning, match=r"labelled 'exhausted_unsplit'.*stemness_andreatta2022 0/4 genes"):
        _states(panel, library_key="sample", max_rank=MAX_RANK, min_cd8_cells=1)
    scores = panel.obsm["tmekit_tcell_state_scores"]
    assert scores["stemness"].isna().all()
    for name, cell in cells.items():
        kept = {g: v for g, v in cell.items() if g not in stemness}
        memory = [g for g in PROGRAMME_GENES["memory"] if g not in stemness]
        assert scores.loc[name, "exhausted"] == pytest.approx(_ucell(kept, PROGRAMME_GENES["exhausted"]), abs=1e-12)
        assert scores.loc[name, "memory"] == pytest.approx(_ucell(kept, memory), abs=1e-12)
    assert scores.loc["progenitor", "exhausted"] == pytest.approx(1 - 11 / 35)
    assert scores.loc["memory_only", "memory"] == pytest.approx(1 - 27 / 35)
    states = panel.obs["tmekit_tcell_state"].astype(str).to_dict()
    assert states == NO_STEMNESS
    full = {k: v[1] for k, v in RNA_CELLS.items()}  # an unsplit cell is exhausted with every gene, and only those
    assert all((states[k] == "exhausted_unsplit") == full[k].endswith("_exhausted") for k in cells)
    row = tk.get.tcell_states(panel).loc["s"]
    for state in ("progenitor_exhausted", "terminal_exhausted"):
        assert np.isnan(row[f"n_{state}"]) and np.isnan(row[f"frac_{state}"])
    assert np.isnan(row["progenitor_terminal_ratio"])
    assert (row["n_exhausted_unsplit"], row["frac_exhausted_unsplit"]) == (4, 4 / 8)
    assert (row["frac_effector_memory"], row["frac_other"], row["memory_exhausted_ratio"]) == (1 / 8, 3 / 8, 1 / 4)
    params = panel.uns["tmekit_tcell_state"]["params"]
    assert set(params["not_measured"]) == {"progenitor_exhausted", "terminal_exhausted", "progenitor_terminal_ratio"}
    assert "stemness_andreatta2022 0/4 genes" in params["not_measured"]["progenitor_exhausted"]
    assert list(params["programmes_not_measured"]) == ["stemness"]
    assert params["effector_memory_rule"].startswith("exhausted off and memory-like on (stemness not measured")


@pytest.mark.parametrize(
    "drop",
    [
        {g for genes in PROGRAMME_GENES.values() for g in genes},  # nothing of the programmes
        set(PROGRAMME_GENES["stemness"]) | set(PROGRAMME_GENES["memory"]),  # exhausted alone: no state
        {"TOX", "PDCD1", "TIGIT"},  # the exhausted programme 2/5: every state needs it
    ],
    ids=["nothing", "exhausted_alone", "no_exhausted"],
)
def test_a_panel_that_decides_no_state_is_refused(drop):
    panel = _panel({k: v[0] for k, v in RNA_CELLS.items()}, drop)
    with pytest.raises(ValueError, match=r"^No CD8 T-cell state can be decided from this object") as err:
        _states(panel, max_rank=MAX_RANK, min_cd8_cells=1)
    message = str(err.value)
    assert "`markers={'PD-1': ..., 'TIM-3': ..., 'TCF1': ...}`" in message
    lacking = [p for p in PROGRAMMES.values() if f"{p} " in message]
    assert lacking and all(f"{p} " in message for p in lacking)
    assert "tmekit_tcell_state" not in panel.obs and "tmekit_tcell_state" not in panel.uns


def test_protein_panels_with_some_of_the_markers():
    """PD-1 and TCF1 without TIM-3: effector/memory (PD-1- TCF1+) is decided, progenitor vs terminal is not (a PD-1+
    TCF1+ cell is one of them: unsplit; a PD-1+ TCF1- one terminal or other: not measured), so neither is other.
    PD-1 and TIM-3 without TCF1: terminal only. With all three the cells take the states the unsplit ones allow."""
    obs = pd.DataFrame({
        "cell_type": "CD8T",
        "pd1": [True, True, False, False, pd.NA, True],
        "tim3": [True, False, False, True, False, True],
        "tcf1": [True, False, True, False, True, False],
    }, index=[f"c{i}" for i in range(6)], dtype="object")  # fmt: skip
    obs[["pd1", "tim3", "tcf1"]] = obs[["pd1", "tim3", "tcf1"]].astype("boolean")
    kwargs = {"cell_types": {"key": "cell_type", "cd8": ["CD8T"]}, "min_cd8_cells": 1}
    full = ad.AnnData(obs=obs.copy())
    tk.tl.tcell_states(full, markers={"PD-1": "pd1", "TIM-3": "tim3", "TCF1": "tcf1"}, **kwargs)
    assert full.obs["tmekit_tcell_state"].astype(str).tolist() == [
        "terminal_exhausted", "other", "effector_memory", "other", "other", "terminal_exhausted"]  # fmt: skip
    no_tim3 = ad.AnnData(obs=obs.copy())
    with pytest.warns(tk.MissingGenesWarning, match=r"labelled 'exhausted_unsplit'; cells the markers cannot place "
                      r"are labelled 'not_measured'.*undecidable without \['TIM-3'\]"):  # fmt: skip
        tk.tl.tcell_states(no_tim3, markers={"PD-1": "pd1", "TCF1": "tcf1"}, **kwargs)
    assert no_tim3.obs["tmekit_tcell_state"].astype(str).tolist() == [
        "exhausted_unsplit", "not_measured", "effector_memory", "other", "other", "not_measured"]  # fmt: skip
    row = tk.get.tcell_states(no_tim3).loc["all"]
    assert row["frac_effector_memory"] == 1 / 6 and (row["frac_exhausted_unsplit"], row["frac_not_measured"]) == (
        1 / 6, 2 / 6)  # fmt: skip
    for column in ("frac_progenitor_exhausted", "frac_terminal_exhausted", "frac_other", "memory_exhausted_ratio"):
        assert np.isnan(row[column]), column
    assert set(no_tim3.uns["tmekit_tcell_state"]["params"]["not_measured"]) == {
        "progenitor_exhausted", "terminal_exhausted", "other", "progenitor_terminal_ratio", "memory_exhausted_ratio",
        "cxcl13", "cxcl13_ccr5"}  # fmt: skip
    no_tcf1 = ad.AnnData(obs=obs.copy())
    with pytest.warns(tk.MissingGenesWarning, match=r"undecidable without \['TCF1'\]"):
        tk.tl.tcell_states(no_tcf1, markers={"PD-1": "pd1", "TIM-3": "tim3"}, **kwargs)
    unplaced = ["not_measured"] * 3
    assert no_tcf1.obs["tmekit_tcell_state"].astype(str).tolist() == [  # an unknown PD-1 is other whatever TCF1
        "terminal_exhausted", *unplaced, "other", "terminal_exhausted"]  # fmt: skip
    row = tk.get.tcell_states(no_tcf1).loc["all"]
    assert row["frac_terminal_exhausted"] == 2 / 6 and np.isnan(row["frac_effector_memory"])
    assert np.isnan(row["frac_progenitor_exhausted"]) and np.isnan(row["frac_other"])


def test_xenium_breast_panel_without_cxcl13(read_shared):
    """The real Xenium breast panel (380 genes: no CXCL13, TOX, GZMB, LAYN, ENTPD1; 2 of the 6 memory-like genes):
    CXCL13 and progenitor vs terminal are not measured; effector/memory is, from the stemness programme; every
    stored state is that rule applied by hand to the stored scores."""
    raw = read_shared("xenium_breast_idc/xenium_breast_idc_subregion.h5ad")
    adata = raw[:, ~raw.var["is_control"].to_numpy()].copy()
    adata.obs["t_type"] = np.where(np.asarray(adata[:, "CD8A"].X.sum(axis=1)).ravel() > 0, "CD8", "other")
    with pytest.warns(tk.MissingGenesWarning, match=r"cxcl13 \(the object has no CXCL13 gene\)") as caught:
        table = _states(adata)
    assert len(caught) == 1
    params = adata.uns["tmekit_tcell_state"]["params"]
    assert {"cxcl13", "cxcl13_ccr5", "progenitor_exhausted", "terminal_exhausted"} <= set(params["not_measured"])
    assert "effector_memory" not in params["not_measured"]
    assert set(params["programmes_not_measured"]) == {"terminal", "memory"}
    row = table.loc["all"]
    assert np.isnan(row["frac_cxcl13"]) and np.isnan(row["frac_progenitor_exhausted"])
    assert row["n_cd8"] > 100 and 0 < row["frac_effector_memory"] < 1
    assert row["frac_effector_memory"] + row["frac_other"] + row["frac_exhausted_unsplit"] == pytest.approx(1)
    cd8 = (adata.obs["t_type"] == "CD8").to_numpy()
    scores = adata.obsm["tmekit_tcell_state_scores"][cd8]
    assert scores[["terminal", "memory"]].isna().all().all() and scores[["exhausted", "stemness"]].notna().all().all()
    by_hand = np.where(scores["exhausted"] >= 0.15, "exhausted_unsplit",
                       np.where(scores["stemness"] >= 0.15, "effector_memory", "other"))  # fmt: skip
    stored = adata.obs.loc[cd8, "tmekit_tcell_state"].astype(str).to_numpy()
    assert (stored == by_hand).all() and set(stored) == {"exhausted_unsplit", "effector_memory", "other"}
