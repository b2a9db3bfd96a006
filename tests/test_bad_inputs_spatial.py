"""Bad spatial inputs that used to get a confident call: units, samples, positions, cell-type roles, cell order.

Each case of ``CASES`` has its test here (``test_<case>``; tests/test_bad_inputs.py checks it) and its row in the
documentation's table "What tmekit refuses, and why", generated from ``CASES``.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()
KEREN_LABELS = tk.datasets.keren2018_labels()
MPU = 800 / 2048  # the Keren MIBI fields: 800 um over 2048 pixels

CASES = {
    "microns_converted_twice": (
        "positions already in um, `microns_per_unit=0.2125` given anyway (Xenium)",
        "refused: cells 1.7 um apart cannot be; the message says the positions look like micrometres already",
    ),
    "samples_in_two_units": (
        "one object, samples in pixels and samples in um, one `microns_per_unit`",
        "refused: the unit check runs per sample and names the samples whose cells are too close or too far",
    ),
    "nan_sample_ids": (
        "a `library_key` column with NaN for some cells (`classify`, `tcell_states`)",
        "refused with the number of such cells and the line that drops them (never a sample called 'nan')",
    ),
    "cells_on_one_line": (
        "all cells on one line (collinear coordinates, e.g. x given twice)",
        "indeterminate with the reason (no tissue area), without a grid or a contact graph",
    ),
    "tumour_label_also_immune": (
        "a label that is both a `tumor` and an `immune` label (or CD8 T labels left out of the immune ones)",
        "refused, naming the labels",
    ),
    "duplicated_cells": (
        "20 % of cells duplicated (same position, same type)",
        "refused at 1 % of a sample or more (they would be counted twice), announced below; the message gives the "
        "line that drops them",
    ),
    "confidence_after_shuffling_cells": (
        "`confidence` after shuffling the cells (same data)",
        "exactly equal: contacts are counted in the tile of the first cell by position, not by row order",
    ),
}


def _tissue(sample_id: str = "field", rng: int = 0, **kwargs: object) -> ad.AnnData:
    return tk.datasets.synthetic_tissue("inflamed", rng=rng, sample_id=sample_id, **kwargs)


def test_microns_converted_twice():
    tissue = _tissue()  # positions in micrometres, as Xenium, CosMx and MERSCOPE export them
    with pytest.raises(ValueError, match=r"median 1\.\d+ um apart.*look converted already.*microns_per_unit=1"):
        tk.tl.classify(tissue, microns_per_unit=0.2125, cell_types=LABELS)
    assert "tmekit_phenotype" not in tissue.uns and "tmekit_compartment" not in tissue.obs
    tk.tl.classify(tissue, microns_per_unit=1.0, cell_types=LABELS)  # the fix the message names
    assert tk.get.phenotypes(tissue)["phenotype"].iloc[0] == "inflamed"


def test_microns_converted_twice_on_xenium(read_shared):
    xenium = read_shared("xenium_breast_idc/xenium_breast_idc_subregion.h5ad")
    xenium.obs["types"] = np.where(np.arange(xenium.n_obs) % 3 == 0, "tumour", "other")
    with pytest.raises(ValueError, match=r"median 1\.6\d um apart.*look converted already"):
        tk.sp.compartments(xenium, microns_per_unit=0.2125, cell_types={"key": "types", "tumor": ["tumour"]})
    tk.sp.compartments(xenium, microns_per_unit=1, cell_types={"key": "types", "tumor": ["tumour"]})  # 7.8 um: cells


def test_samples_in_two_units():
    pixels = _tissue("in_pixels", rng=1)
    pixels.obsm["spatial"] = pixels.obsm["spatial"] / MPU  # exported in MIBI pixels
    microns = _tissue("in_microns", rng=2)  # left in micrometres
    both = ad.concat([pixels, microns], merge="first")
    with pytest.raises(ValueError, match=r"not in one unit.*'in_microns' 3\.\d+ um in 1.*x2\.\d") as err:
        tk.tl.classify(both, library_key="sample_id", microns_per_unit=MPU, cell_types=LABELS)
    assert "in_pixels" not in str(err.value).split("um in 1")[1]  # only the odd sample is named
    assert "tmekit_compartment" not in both.obs
    tk.tl.classify(pixels, library_key="sample_id", microns_per_unit=MPU, cell_types=LABELS)  # each alone: fine
    # one sample alone on the wrong side of the floor is named with the factor that would fix it
    with pytest.raises(ValueError, match=r"cannot be closer than 4 um"):
        tk.tl.classify(microns, library_key="sample_id", microns_per_unit=MPU, cell_types=LABELS)


def test_nan_sample_ids(wu_counts):
    tissue = ad.concat([_tissue("a", rng=1), _tissue("b", rng=2)], merge="first")
    tissue.obs["sample_id"] = tissue.obs["sample_id"].astype(object)
    tissue.obs.iloc[:7, tissue.obs.columns.get_loc("sample_id")] = np.nan
    with pytest.raises(ValueError, match=r"^7 of [\d,]+ cells have no sample in `obs\['sample_id'\]` \(NaN\)"):
        tk.tl.classify(tissue, library_key="sample_id", microns_per_unit=1.0, cell_types=LABELS)
    assert "tmekit_compartment" not in tissue.obs
    wu_counts.obs["patient"] = pd.Series(["p1"] * (wu_counts.n_obs - 3) + [None] * 3, index=wu_counts.obs_names)
    wu_counts.obs["types"] = "CD8 T"
    with pytest.raises(ValueError, match=r"3 of 1,564 cells have no sample.*notna\(\)"):
        tk.tl.tcell_states(wu_counts, library_key="patient", cell_types={"key": "types", "cd8": ["CD8 T"]})
    assert "tmekit_tcell_state" not in wu_counts.obs


@pytest.mark.parametrize("jitter", [0.0, 2.0])
def test_cells_on_one_line(jitter):
    tissue = _tissue("line", rng=3)
    x = tissue.obsm["spatial"][:, 0]
    across = np.random.default_rng(0).uniform(0, jitter, tissue.n_obs)  # a file of cells 2 um wide, or none
    tissue.obsm["spatial"] = np.column_stack([x, x + across])  # the x column given twice
    tk.tl.classify(tissue, rules=["cd8_density", "keren2018"], microns_per_unit=1.0, cell_types=LABELS)
    row = tk.get.phenotypes(tissue).iloc[0]
    for rule in ("cd8_density", "keren2018"):
        assert row[f"phenotype_{rule}"] == "indeterminate" and row[f"confidence_{rule}"] == 0
        assert row[f"reason_{rule}"].startswith("the cells lie on one line")
    assert row["area_tissue_mm2"] == 0 and row["immune_tumor_contacts"] == 0  # no grid, no contact graph


def test_cells_on_one_line_threshold():
    """The line rule at its width (10 um across): just below is a line, at and above it is tissue."""
    from tmekit._units import MIN_TISSUE_WIDTH_UM, flat_reason

    x = np.repeat(np.linspace(0, 1000, 100), 2)  # pairs of cells across the line: its axis is exactly x
    for width, flat in ((MIN_TISSUE_WIDTH_UM - 1e-6, True), (MIN_TISSUE_WIDTH_UM, False), (10.5, False)):
        points = np.column_stack([x, np.tile([0.0, width], 100)])
        assert bool(flat_reason(points)) is flat, width
    assert flat_reason(np.zeros((2, 2))).startswith("2 cell(s)")


def test_tumour_label_also_immune(keren):
    with pytest.raises(ValueError, match=r"\['Tumour'\] are both `tumor` and `immune` labels"):
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU,
                       cell_types={**KEREN_LABELS, "immune": [*KEREN_LABELS["immune"], "Tumour"]})  # fmt: skip
    immune = [label for label in KEREN_LABELS["immune"] if label != "CD8T"]
    with pytest.raises(ValueError, match=r"\['CD8T'\] are `cd8` labels but not `immune` labels.*Add them"):
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU,
                       cell_types={**KEREN_LABELS, "immune": immune})  # fmt: skip
    assert "tmekit_phenotype" not in keren.uns
    with pytest.raises(ValueError, match=r"both `tumor` and `cd8` labels"):
        tk.tl.tcell_states(
            keren,
            markers={"PD-1": "x", "TIM-3": "y", "TCF1": "x"},
            cell_types={"key": "cell_type", "cd8": ["CD8T", "Tumour"], "tumor": ["Tumour"]},
        )


def test_duplicated_cells():
    tissue = _tissue("dup", rng=4)
    n = tissue.n_obs
    twice = ad.concat([tissue, tissue[: n // 5]], merge="first", index_unique="-")  # a fifth appended again
    with pytest.raises(
        ValueError, match=rf"^{n // 5:,} of the {n + n // 5:,} cells of sample 'dup' \(16\.\d%\) sit ex"
    ):
        tk.tl.classify(twice, library_key="sample_id", microns_per_unit=1.0, cell_types=LABELS)
    assert "tmekit_compartment" not in twice.obs
    # the line the message gives drops them, and the call is that of the tissue itself
    keep = ~pd.DataFrame(twice.obsm["spatial"][:, :2]).assign(sample=twice.obs["sample_id"].to_numpy()).duplicated()
    clean = twice[keep.to_numpy()].copy()
    tk.tl.classify(clean, library_key="sample_id", microns_per_unit=1.0, cell_types=LABELS)
    called = tissue.copy()
    tk.tl.classify(called, library_key="sample_id", microns_per_unit=1.0, cell_types=LABELS)
    pd.testing.assert_frame_equal(tk.get.phenotypes(clean), tk.get.phenotypes(called))
    # below 1% of the sample: announced, and called
    few = max(1, n // 200)
    some = ad.concat([tissue, tissue[:few]], merge="first", index_unique="-")
    with pytest.warns(tk.InputWarning, match=rf"^{few:,} of the {n + few:,} cells .* sit exactly on the position"):
        tk.tl.classify(some, library_key="sample_id", microns_per_unit=1.0, cell_types=LABELS)


def test_duplicated_cells_threshold():
    """1% of a sample is refused, just below is announced (100 cells: 1 repeated warns, 2 of 101 refuse)."""
    from tmekit._units import DUPLICATE_SHARE, check_cell_units

    grid = np.array([(x, y) for x in range(10) for y in range(10)], dtype=float) * 8.0
    assert DUPLICATE_SHARE == 0.01
    one = np.vstack([grid, grid[:1]])  # 1 of 101 cells: 0.99%
    with pytest.warns(tk.InputWarning, match="1 of the 101 cells"):
        check_cell_units(one, [("s", np.arange(101))], microns_per_unit=1.0)
    exactly = np.vstack([grid[:99], grid[:1]])  # 1 of 100 cells: exactly 1%
    with pytest.raises(ValueError, match=r"1 of the 100 cells .*\(1\.0%\)"):
        check_cell_units(exactly, [("s", np.arange(100))], microns_per_unit=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_cell_units(grid, [("s", np.arange(100))], microns_per_unit=1.0) == {"s": 8.0}


def test_unit_bands_at_their_edges():
    """Stated units: 4-60 um per sample; unstated: 4-15 um. At each edge passes, just beyond is refused."""
    from tmekit._units import check_cell_units

    grid = np.array([(x, y) for x in range(10) for y in range(10)], dtype=float)
    rows = [("s", np.arange(100))]
    cases = [(4.0, 1.0, True), (3.99, 1.0, False), (60.0, 1.0, True), (60.01, 1.0, False),
             (15.0, None, True), (15.01, None, False), (4.0, None, True), (3.99, None, False)]  # fmt: skip
    for spacing, stated, ok in cases:
        if ok:
            assert check_cell_units(grid * spacing, rows, microns_per_unit=stated)["s"] == pytest.approx(spacing)
        else:
            with pytest.raises(ValueError, match="apart"):
                check_cell_units(grid * spacing, rows, microns_per_unit=stated)


def test_confidence_after_shuffling_cells(keren):
    order = np.random.default_rng(0).permutation(keren.n_obs)
    shuffled = keren[order].copy()
    for adata in (keren, shuffled):
        tk.tl.classify(adata, rules=["keren2018", "cd8_density", "patterns4"], library_key="patient_id",
                       microns_per_unit=MPU, n_boot=200, cell_types=KEREN_LABELS)  # fmt: skip
    first = tk.get.phenotypes(keren)
    second = tk.get.phenotypes(shuffled).loc[first.index]
    pd.testing.assert_frame_equal(first, second)  # every call, confidence and metric, to the last digit
    # the evidence the confidence resamples: each tile's contacts, whatever the order of the cells
    where = {"library_key": "patient_id", "microns_per_unit": MPU, "cell_types": KEREN_LABELS}
    tiles = [tk.sp.tile_table(adata, **where).set_index(["sample", "tile"]).sort_index() for adata in (keren, shuffled)]
    pd.testing.assert_frame_equal(*tiles)
    assert tiles[0]["e_it"].sum() > 1000  # contacts were counted


def test_confidence_after_shuffling_cells_on_33_patients(read_shared):
    keren = read_shared("keren_tnbc_mibi/keren_tnbc_full33.h5ad")
    labels = {**KEREN_LABELS, "immune": [*KEREN_LABELS["immune"]]}
    shuffled = keren[np.random.default_rng(1).permutation(keren.n_obs)].copy()
    for adata in (keren, shuffled):
        tk.tl.classify(
            adata, rules="keren2018", library_key="patient_id", microns_per_unit=MPU, n_boot=100, cell_types=labels
        )
    first = tk.get.phenotypes(keren)
    pd.testing.assert_series_equal(first["confidence"], tk.get.phenotypes(shuffled).loc[first.index, "confidence"])
