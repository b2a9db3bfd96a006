"""The spatial confidence means what it says: calibrated on fields whose truth is known, low near a threshold,
and a property of the sample alone (not of the cell order or of the other samples in the object)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()


def _calls(adata: ad.AnnData, **kwargs) -> ad.AnnData:
    tk.tl.classify(adata, library_key="sample_id", cell_types={**LABELS, **kwargs.pop("cell_types", {})}, **kwargs)
    return tk.get.phenotypes(adata)


@pytest.fixture(scope="module")
def sweep():
    """200 fields whose true CD8 densities straddle the cd8_density thresholds, measured with a 25% error."""
    adata = tk.datasets.calibration_sweep(200, rng=11)
    table = _calls(adata)
    truth = adata.uns["calibration_sweep"].loc[table.index, "truth"]
    return table, (table["phenotype"].astype(str) == truth).to_numpy()


def _ece(confidence: np.ndarray, right: np.ndarray, n_bins: int = 10) -> float:
    bins = np.clip((confidence * n_bins).astype(int), 0, n_bins - 1)
    return float(sum((bins == b).mean() * abs(right[bins == b].mean() - confidence[bins == b].mean())
                     for b in range(n_bins) if (bins == b).any()))  # fmt: skip


def test_confidence_is_calibrated_on_fields_whose_truth_is_known(sweep):
    """benchmarks/calibration.py runs 800 fields (ECE 0.024); 200 here leave more room for the bins' own noise."""
    table, right = sweep
    confidence = table["confidence"].to_numpy()
    assert _ece(confidence, right) <= 0.08
    sure = confidence >= 0.9
    assert right[sure].mean() >= 0.9  # the confident calls are the right ones
    assert right[confidence < 0.6].mean() < 0.75  # and the unsure ones are often wrong


def test_a_field_within_ten_percent_of_a_threshold_is_never_confident(sweep):
    table, _ = sweep
    core, margin = table["density_cd8_core"], table["density_cd8_margin"]
    near = (np.abs(core / 100 - 1) < 0.1) | ((core <= 100) & (np.abs(margin / 200 - 1) < 0.1))
    assert near.sum() >= 10
    assert table.loc[near, "confidence"].max() <= 0.7


def test_confidence_depends_on_the_sample_only():
    parts = [tk.datasets.synthetic_tissue(p, rng=3, sample_id=p) for p in ("near_inflamed", "near_excluded", "desert")]
    together = _calls(ad.concat(parts, merge="first"))
    alone = _calls(parts[0].copy())
    assert alone.loc["near_inflamed", "confidence"] == together.loc["near_inflamed", "confidence"]
    shuffled = ad.concat(parts, merge="first")
    shuffled = shuffled[np.random.default_rng(0).permutation(shuffled.n_obs)].copy()
    again = _calls(shuffled)
    assert again.loc[together.index, "confidence"].tolist() == together["confidence"].tolist()
    assert 0.3 < together.loc["near_inflamed", "confidence"] < 0.9  # a near-threshold field is not sure


def test_measurement_uncertainty_is_a_parameter_and_recorded():
    field = tk.datasets.synthetic_tissue("inflamed", rng=2, densities={"cd8": (140.0, 150.0, 80.0)})
    sampling_only = _calls(field.copy(), measurement_cv=0.0)["confidence"].iloc[0]
    default = _calls(field.copy())["confidence"].iloc[0]
    assert default < sampling_only - 0.03  # what sampling cannot see makes a call 40% from its threshold less sure
    called = field.copy()
    _calls(called, measurement_cv=0.1)
    assert tk.get.phenotype_params(called)["measurement_cv"] == 0.1
