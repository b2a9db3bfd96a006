"""Messages that used to send the user the wrong way: each hint names a parameter the function it names accepts,
and the fix it gives works.

Each case of ``CASES`` has its test here (``test_<case>``; tests/test_bad_inputs.py checks it) and its row in the
documentation's table "What tmekit refuses, and why", generated from ``CASES``.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()
KEREN_LABELS = tk.datasets.keren2018_labels()
MPU = 800 / 2048

CASES = {
    "duplicated_positions_message": (
        "every cell of a sample at one position",
        "refused as duplicated rows, with the line that drops them (no `microns_per_unit=nan`)",
    ),
    "targeted_panel_in_tcell_states": (
        "`tcell_states` on a targeted RNA panel without the programmes' genes",
        "the states it can decide; the others NaN, named in a warning with their missing genes; refused only when "
        "none can be decided, naming the genes and `markers=` (no `min_overlap=`, which it lacks)",
    ),
    "marker_threshold_in_protein_mode": (
        "protein intensities in `tcell_states(markers=...)` without thresholds",
        "the message names `marker_thresholds=`, which `tcell_states` takes (not `pdl1_threshold=`)",
    ),
    "no_cd8_cells_in_tcell_states": (
        "`tcell_states` on samples without CD8 T cells",
        "every sample indeterminate (0 CD8 T cells), announced; never 'cannot score an empty object'",
    ),
    "boolean_strings_from_a_csv": (
        "a CSV with `True`/`False` strings for a boolean column (`pdl1_key`)",
        "read as booleans (empty or NaN: unknown)",
    ),
    "log_values_in_a_counts_layer": (
        "log-normalised values in a `counts` layer",
        "refused, saying the layer holds log values and how to keep the counts (never 'pass `layer='counts'`')",
    ),
    "label_typo_suggests_the_closest": (
        "`Otherimmun` (a typo) where `Other` and `Otherimmune` are labels",
        "refused with the closest label, `'Otherimmun' -> 'Otherimmune'`",
    ),
}


def hints_accepted(message: str, func: object) -> list[str]:
    """The ``name=`` hints of ``message`` (in backticks); assert ``func`` takes each. Returns them."""
    names = [m.group(1) for span in re.findall(r"`([^`]+)`", message) if (m := re.match(r"^(\w+)=", span))]
    taken = set(inspect.signature(func).parameters)  # follows functools.wraps to the real signature
    assert set(names) <= taken, f"{sorted(set(names) - taken)} not parameters of {func}: {message}"
    return sorted(set(names))


def test_duplicated_positions_message():
    tissue = tk.datasets.synthetic_tissue("inflamed", rng=0)
    tissue.obsm["spatial"] = np.tile(tissue.obsm["spatial"][:1], (tissue.n_obs, 1))  # one position, every cell
    with pytest.raises(ValueError, match=r"sit exactly on the position of another cell") as err:
        tk.tl.classify(tissue, microns_per_unit=1.0, cell_types=LABELS)
    assert "nan" not in str(err.value) and "microns_per_unit=" not in str(err.value)


def test_targeted_panel_in_tcell_states(wu_counts):
    terminal = set(tk.signatures.get("tex_andreatta2022").genes)
    panel = wu_counts[:, [g for g in wu_counts.var_names if g not in terminal]].copy()
    with pytest.warns(tk.MissingGenesWarning, match=r"progenitor_exhausted, terminal_exhausted.*tex_andreatta2022 0/5"):
        tk.tl.tcell_states(panel, cell_types={"key": "cell_type_minor", "cd8": ["T cells CD8+"]})
    row = tk.get.tcell_states(panel).iloc[0]
    assert np.isnan(row["frac_terminal_exhausted"]) and np.isfinite(row["frac_effector_memory"])
    programmes = ("exhausted_andreatta2022", "stemness_andreatta2022", "cd8_g_sadefeldman2018")
    dropped = set().union(*(tk.signatures.get(name).genes for name in programmes))
    bare = wu_counts[:, [g for g in wu_counts.var_names if g not in dropped]].copy()
    with pytest.raises(ValueError, match=r"No CD8 T-cell state can be decided.*exhausted_andreatta2022 0/5") as err:
        tk.tl.tcell_states(bare, cell_types={"key": "cell_type_minor", "cd8": ["T cells CD8+"]})
    assert hints_accepted(str(err.value), tk.tl.tcell_states) == ["markers"]
    assert "min_overlap" not in str(err.value)


def test_marker_threshold_in_protein_mode():
    cells = sc.AnnData(np.array([[0.1, 2.0, 3.0], [5.0, 0.2, 4.0], [6.0, 7.0, 0.3]] * 4, dtype=np.float32))
    cells.var_names = ["PD1", "TIM3", "TCF1"]
    cells.obs["type"] = "CD8"
    markers = {"PD-1": "PD1", "TIM-3": "TIM3", "TCF1": "TCF1"}
    with pytest.raises(ValueError, match=r"marker_thresholds=\{'PD-1': \.\.\.\}") as err:
        tk.tl.tcell_states(cells, markers=markers, cell_types={"key": "type", "cd8": ["CD8"]})
    assert hints_accepted(str(err.value), tk.tl.tcell_states) == ["marker_thresholds"]
    tk.tl.tcell_states(
        cells,
        markers=markers,
        min_cd8_cells=1,
        marker_thresholds={"PD-1": 1.0, "TIM-3": 1.0, "TCF1": 1.0},
        cell_types={"key": "type", "cd8": ["CD8"]},
    )
    # by hand: PD-1- TCF1+ effector/memory; PD-1+ TIM-3- TCF1+ progenitor; PD-1+ TIM-3+ terminal
    assert cells.obs["tmekit_tcell_state"].astype(str).tolist()[:3] == [
        "effector_memory", "progenitor_exhausted", "terminal_exhausted",
    ]  # fmt: skip


def test_no_cd8_cells_in_tcell_states(wu_counts):
    wu_counts.obs["types"] = np.where(wu_counts.obs["cell_type_major"] == "T-cells", "CD4 T", "other")
    with pytest.warns(tk.InputWarning, match=r"No cd8 cells: cd8 labels \['CD8 T'\] do not occur"):
        tk.tl.tcell_states(wu_counts, library_key="sample_id", cell_types={"key": "types", "cd8": ["CD8 T"]})
    table = wu_counts.uns["tmekit_tcell_state"]["table"]
    assert table["status"].tolist() == ["indeterminate"] and table["n_cd8"].tolist() == [0]
    assert table["reason"].iloc[0] == "only 0 CD8 T cells (< min_cd8_cells=10)"
    assert wu_counts.obs["tmekit_tcell_state"].isna().all()


def test_boolean_strings_from_a_csv(tmp_path):
    tissue = tk.datasets.synthetic_tissue("inflamed", rng=3, pdl1=(0.4, 0.2))
    tissue.obs[["pdl1"]].to_csv(tmp_path / "pdl1.csv")
    tissue.obs["pdl1_csv"] = pd.read_csv(tmp_path / "pdl1.csv", index_col=0, dtype=str)["pdl1"]  # "True"/"False"
    tissue.obs.iloc[:5, tissue.obs.columns.get_loc("pdl1_csv")] = np.nan  # a few cells unknown
    assert tissue.obs["pdl1_csv"].dropna().isin(["True", "False"]).all()
    tk.tl.classify(tissue, rules="til_pdl1", microns_per_unit=1.0, cell_types={**LABELS, "pdl1": "pdl1_csv"})
    row = tk.get.phenotypes(tissue).iloc[0]
    tumour = (tissue.obs["cell_type"] == "Tumour").to_numpy()
    known = tumour & tissue.obs["pdl1_csv"].notna().to_numpy()
    assert row["tps"] == pytest.approx(100 * tissue.obs["pdl1"].to_numpy(bool)[known].mean())
    tissue.obs["words"] = np.where(tumour, "high", "low")
    with pytest.raises(ValueError, match=r"holds labels \(\['high', 'low'\]\)"):
        tk.tl.classify(
            tissue, rules="til_pdl1", microns_per_unit=1.0, overwrite=True, cell_types={**LABELS, "pdl1": "words"}
        )


def test_log_values_in_a_counts_layer(wu_counts):
    sc.pp.normalize_total(wu_counts, target_sum=1e4)
    sc.pp.log1p(wu_counts)
    wu_counts.layers["counts"] = wu_counts.X.copy()  # filled after normalising: log values
    with pytest.raises(
        ValueError, match=r"layers\['counts'\]` holds log-normalised values.*filled after normal"
    ) as err:
        tk.tl.classify_expression(wu_counts, library_key="sample_id", layer="counts")
    assert "`layer='counts'`" not in str(err.value)
    assert hints_accepted(str(err.value), tk.tl.classify) == ["layer"]
    with pytest.raises(ValueError, match=r"holds log-normalised values") as err:
        tk.tl.aggregate(wu_counts, library_key="sample_id", layer="counts")
    assert hints_accepted(str(err.value), tk.tl.aggregate) == ["layer"]


def test_label_typo_suggests_the_closest(keren):
    for typo in ("Otherimmun", "OtherImmune", "Other immune"):
        labels = {**KEREN_LABELS, "immune": ["CD8T", typo]}
        with pytest.raises(ValueError, match=rf"'{typo}' -> 'Otherimmune'"):
            tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU, cell_types=labels)
    with pytest.raises(ValueError, match=r"'Others' -> 'Other'\)"):
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU,
                       cell_types={**KEREN_LABELS, "tumor": ["Others"]})  # fmt: skip
