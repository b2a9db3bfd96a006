"""`tk.sp.spot_content`: spot cell-type fractions on reference profiles; the shipped reference."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import tmekit as tk

CLEAR = ("inflamed", "excluded", "desert")


@pytest.fixture(scope="module")
def synthetic(synthetic_spot_tissues):
    """The session's synthetic spot tissues (shared by every test file that needs them)."""
    return synthetic_spot_tissues


# -------------------------------------------------------------------------------------------- spot content
def test_spot_content_recovers_an_exact_mixture():
    """A spot made of exactly 3 epithelial cells and 1 CD8 T cell (mean reference profiles) is 75 % / 25 %."""
    ref = tk.sp.default_spot_reference()
    mix = 3 * ref.library_size["Epithelial"] * ref.profiles.loc["Epithelial"]
    mix += ref.library_size["CD8 T"] * ref.profiles.loc["CD8 T"]
    spots = ad.AnnData(X=np.round(mix.to_numpy()[None, :] * 1000), var=pd.DataFrame(index=ref.profiles.columns))
    tk.sp.spot_content(spots)
    table = tk.get.spot_content(spots)
    assert table.loc[spots.obs_names[0], "Epithelial"] == pytest.approx(0.75, abs=0.01)
    assert table.loc[spots.obs_names[0], "CD8 T"] == pytest.approx(0.25, abs=0.01)


def test_spot_content_tracks_true_composition(synthetic):
    for phenotype in ("inflamed", "excluded"):
        spots = synthetic[phenotype, 0]
        est, truth = spots.obsm["tmekit_spot_content"], spots.obsm["cell_type_fractions"]
        np.testing.assert_allclose(est.sum(axis=1), 1.0)
        assert (est.to_numpy() >= 0).all()
        assert np.corrcoef(est["Epithelial"], truth["Tumour"])[0, 1] > 0.95
        assert np.corrcoef(est["CD8 T"], truth["CD8T"])[0, 1] > 0.85
        assert np.corrcoef(est["Myeloid"], truth["Macrophage"])[0, 1] > 0.85
        assert spots.uns["tmekit_spot_content"]["groups"]["cd8"] == ["CD8 T"]


def test_spot_content_errors(synthetic):
    spots = synthetic["desert", 0].copy()
    with pytest.raises(ValueError, match="exists"):
        tk.sp.spot_content(spots)
    few = spots[:, :8].copy()
    with pytest.raises(ValueError, match=r"Only 8 of the reference's 133 genes .* min_genes=20"):
        tk.sp.spot_content(few, overwrite=True)
    logged = spots.copy()
    sc.pp.normalize_total(logged)
    sc.pp.log1p(logged)
    with pytest.raises(ValueError, match=r"log-normalised .* raw counts"):
        tk.sp.spot_content(logged, overwrite=True)


def test_scoring_engine_works_on_spots_unchanged(synthetic):
    spots = synthetic["inflamed", 0].copy()
    spots.layers["counts"] = spots.X.copy()
    sc.pp.normalize_total(spots, target_sum=1e4)
    sc.pp.log1p(spots)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)  # the synthetic spots carry identity genes only
        tk.tl.score(spots, ["marker_cd8_t", "marker_epithelial"], min_overlap=0.3)
    scores, truth = spots.obsm["tmekit_scores"], spots.obsm["cell_type_fractions"]
    assert np.corrcoef(scores["marker_epithelial"], truth["Tumour"])[0, 1] > 0.6
    assert np.corrcoef(scores["marker_cd8_t"], truth["CD8T"])[0, 1] > 0.5


def test_the_shipped_reference_is_what_its_tool_builds():
    """src/tmekit/sp/data holds tools/build_spot_reference.py's output for the bundled Wu 2021 tumour, exactly."""
    import importlib.util
    from pathlib import Path

    tool = Path(__file__).resolve().parents[2] / "tools" / "build_spot_reference.py"
    spec = importlib.util.spec_from_file_location("build_spot_reference", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built, shipped = module.build(), tk.sp.default_spot_reference()
    pd.testing.assert_frame_equal(built.profiles, shipped.profiles, check_exact=True, check_names=False)
    pd.testing.assert_series_equal(built.library_size, shipped.library_size, check_exact=True, check_names=False)
    assert built.groups == shipped.groups and built.n_cells == shipped.n_cells and built.source == shipped.source
    assert list(shipped.profiles.index[:3]) == ["Fibroblast", "Perivascular", "Endothelial"]
