"""Raw data to frameworks and T-cell states with no label written by hand (issue 28): read, annotate, classify,
tcell_states, report, on the real Xenium breast panel."""

from __future__ import annotations

import warnings

import numpy as np

import tmekit as tk


def test_xenium_raw_counts_to_calls_and_states_without_a_label(read_shared, tmp_path):
    raw = read_shared("xenium_breast_idc/xenium_breast_idc_subregion.h5ad")
    cells = raw[:, ~raw.var["is_control"].to_numpy()].copy()
    x_before = cells.X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)  # a targeted panel: levels it cannot decide
        tk.tl.annotate(cells)
        tk.tl.classify(cells, rules="cd8_density,patterns4", microns_per_unit=1.0)
        tk.tl.tcell_states(cells)
    declared = cells.uns["tmekit_cell_types"]
    assert declared["key"] == "tmekit_cell_type" and list(declared["tumor"]) == ["Epithelial"]
    types = cells.obs["tmekit_cell_type"].astype(str)
    n_cd8 = int(types.eq("CD8 T").sum())
    call = tk.get.phenotypes(cells).iloc[0]
    assert call["n_cd8"] == n_cd8 and call["n_tumor"] == int(types.eq("Epithelial").sum())  # annotate's roles, by hand
    assert call["n_immune"] == int(types.isin(declared["immune"]).sum())
    states = tk.get.tcell_states(cells).iloc[0]
    assert states["n_cd8"] == n_cd8
    assert np.isnan(states["frac_cxcl13"])  # the panel has no CXCL13: not measured, not 0
    not_measured = cells.uns["tmekit_tcell_state"]["params"]["not_measured"]
    assert "cxcl13" in {k.lower() for k in not_measured} or any("CXCL13" in str(v) for v in not_measured.values())
    np.testing.assert_array_equal(cells.X.toarray() if hasattr(cells.X, "toarray") else cells.X,
                                  x_before.toarray() if hasattr(x_before, "toarray") else x_before)  # fmt: skip
    assert np.isnan(states["hypoxia_tumor"])  # 1 of the 51 hypoxia genes on the panel: not measured, not a number
    assert "hypoxia_tumor" in not_measured
    html = tk.report.html({"xenium": cells}, tmp_path / "xenium.html")
    assert (tmp_path / "xenium.html").read_text() == html
    assert 'id="tcell' in html and "patterns4" in html  # the states and both frameworks are in the report
