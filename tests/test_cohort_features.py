"""`tk.get.cohort_features`: one row per sample or patient, every value checked by hand against obs and uns."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk
from tmekit import _cohort

#: Four images of two patients: P1 has an inflamed and an excluded image, P2 two desert ones.
IMAGES = {"img1": ("inflamed", "P1"), "img2": ("excluded", "P1"), "img3": ("desert", "P2"), "img4": ("desert", "P2")}
MARKERS = {"PD-1": "pd1", "TIM-3": "tim3", "TCF1": "tcf1"}


def _tissues() -> ad.AnnData:
    parts = []
    for k, (name, (phenotype, patient)) in enumerate(IMAGES.items()):
        part = tk.datasets.synthetic_tissue(phenotype, rng=k, sample_id=name, size_um=500, pdl1=(0.4, 0.1))
        part.obs["patient"] = patient
        parts.append(part)
    adata = ad.concat(parts, index_unique="-", uns_merge="first")
    gen = np.random.default_rng(7)
    for column in MARKERS.values():
        adata.obs[column] = gen.random(adata.n_obs) < 0.5
    return adata


@pytest.fixture(scope="module")
def _analysed() -> ad.AnnData:
    adata = _tissues()
    tk.tl.classify(adata, library_key="sample_id", rules=["cd8_density", "keren2018", "til_pdl1"], n_boot=20,
                   cell_types={"pdl1": "pdl1", "t": ["CD8T", "CD4T"]})  # fmt: skip
    tk.tl.tcell_states(adata, library_key="sample_id", markers=MARKERS, min_cd8_cells=3)
    return adata


@pytest.fixture
def analysed(_analysed: ad.AnnData) -> ad.AnnData:
    """The classified cohort (a fresh copy per test: tests never see each other's changes)."""
    return _analysed.copy()


def test_per_sample_rows_equal_the_stored_tables_and_obs(analysed):
    before = (analysed.obs.copy(), set(analysed.uns), set(analysed.obsm))
    features = tk.get.cohort_features(analysed)
    assert list(features.index) == list(IMAGES) and features.index.name == "sample_id"
    assert (features["n_samples"] == 1).all()
    calls = tk.get.phenotypes(analysed)
    for rule in ("cd8_density", "keren2018", "til_pdl1"):
        assert isinstance(features[f"phenotype:{rule}"].dtype, pd.CategoricalDtype)
        assert list(features[f"phenotype:{rule}"].astype(str)) == list(calls[f"phenotype_{rule}"].astype(str))
        np.testing.assert_array_equal(features[f"confidence:{rule}"], calls[f"confidence_{rule}"])
    assert list(features["phenotype:cd8_density"].astype(str)) == ["inflamed", "excluded", "desert", "desert"]
    evidence = tk.get.evidence(analysed)
    for metric in ("density_cd8_core", "density_cd8_margin", "mixing_score", "tps", "cd8_tumor_distance_median_um"):
        np.testing.assert_array_equal(features[f"evidence:{metric}"], evidence[metric].astype(float))
    assert list(features["evidence:ic_category"]) == list(evidence["ic_category"])  # the SP142 band: words
    assert not [c for c in features if c.startswith("evidence:threshold_") or c == "evidence:tile_um"]
    # T-cell state shares by hand: the state of each CD8 T cell in obs, per sample
    cd8 = analysed.obs["cell_type"] == "CD8T"
    state = analysed.obs.loc[cd8, "tmekit_tcell_state"].astype(str)
    by_hand = pd.crosstab(analysed.obs.loc[cd8, "sample_id"], state, normalize="index").reindex(features.index)
    n_cd8 = analysed.obs.loc[cd8, "sample_id"].value_counts().reindex(features.index).fillna(0)
    by_hand[(n_cd8 < 3).to_numpy()] = np.nan  # min_cd8_cells=3: fewer CD8 T cells give no shares
    assert (n_cd8 >= 3).sum() >= 2
    for name in ("progenitor_exhausted", "terminal_exhausted", "effector_memory"):
        np.testing.assert_allclose(features[f"tcell_state:{name}"], by_hand[name])
    # compartment areas: the stored per-sample areas; tissue = core + margin + stroma
    stored = analysed.uns["tmekit_compartment"]["samples"]
    for name in IMAGES:
        info = stored[name]
        assert features.loc[name, "compartment_area:core"] == info["core_area_mm2"]
        assert features.loc[name, "compartment_area:tissue"] == pytest.approx(
            info["core_area_mm2"] + info["margin_area_mm2"] + info["stroma_area_mm2"]
        )
    assert features.attrs["level"] == "sample" and features.attrs["library_key"] == "sample_id"
    assert analysed.obs.equals(before[0]) and set(analysed.uns) == before[1] and set(analysed.obsm) == before[2]


def test_two_images_of_a_patient_give_one_row_with_the_weighted_mean(analysed):
    samples = tk.get.cohort_features(analysed)
    cells = analysed.obs["sample_id"].value_counts()
    area = samples["compartment_area:tissue"]
    by_patient = {"cells": cells, "equal": pd.Series(1.0, index=cells.index), "area": area}
    for weight, w in by_patient.items():
        patients = tk.get.cohort_features(analysed, patient_key="patient", weight=weight)
        assert list(patients.index) == ["P1", "P2"] and patients.index.name == "patient"
        assert list(patients["n_samples"]) == [2, 2]
        for column in ("evidence:density_cd8_core", "confidence:cd8_density", "tcell_state:effector_memory"):
            x = samples[column]
            expected = (x["img1"] * w["img1"] + x["img2"] * w["img2"]) / (w["img1"] + w["img2"])
            assert patients.loc["P1", column] == pytest.approx(expected), (weight, column)
        assert patients.attrs["weight"] == weight and patients.attrs["level"] == "patient"
    patients = tk.get.cohort_features(analysed, patient_key="patient")
    # P1: one inflamed and one excluded image tie -> "mixed"; P2: both desert
    assert list(patients["phenotype:cd8_density"].astype(str)) == ["mixed", "desert"]
    assert "mixed" in patients["phenotype:cd8_density"].cat.categories
    assert "most frequent" in patients.attrs["categorical"] and "weighted mean" in patients.attrs["numeric"]


def test_a_measured_nan_stays_out_of_the_patient_mean_and_all_nan_stays_nan():
    calls = pd.Categorical(["indeterminate", "desert", "indeterminate", "indeterminate"], categories=list(tk.tl.CALLS))
    features = pd.DataFrame({"n_samples": 1, "score:x": [1.0, np.nan, np.nan, 4.0], "phenotype:r": calls},
                            index=pd.Index(["a", "b", "c", "d"], name="sample"))  # fmt: skip
    patient = pd.Series(["P", "P", "Q", "R"], index=features.index, name="patient")
    out = _cohort.aggregate_patients(features, patient, pd.Series([1.0, 3.0, 1.0, 1.0], index=features.index))
    assert out.loc["P", "score:x"] == 1.0  # b is not measured: a alone
    assert np.isnan(out.loc["Q", "score:x"])
    # P: the indeterminate image is outvoted by the called one; Q, R: every image indeterminate
    assert list(out["phenotype:r"].astype(str)) == ["desert", "indeterminate", "indeterminate"]


def test_a_sample_of_two_patients_is_refused(analysed):
    analysed.obs["patient"] = analysed.obs["patient"].astype(str)
    first = analysed.obs_names[analysed.obs["sample_id"] == "img3"][:5]
    analysed.obs.loc[first, "patient"] = "P1"
    with pytest.raises(ValueError, match=r"Sample 'img3' maps to 2 patients .*\['P1', 'P2'\]"):
        tk.get.cohort_features(analysed, patient_key="patient")


def test_signature_scores_are_the_mean_or_median_of_the_samples_cells(wu_lognorm):
    gen = np.random.default_rng(0)
    adata = wu_lognorm[gen.choice(wu_lognorm.n_obs, 600, replace=False)].copy()
    adata.obs["sample"] = np.repeat(["s1", "s2", "s3"], 200)
    tk.tl.score(adata, ["ifng6_ayers2017", "hypoxia_buffa2010"])
    with pytest.raises(ValueError, match="pass `library_key=`"):
        tk.get.cohort_features(adata)
    scores = tk.get.scores(adata)
    for how in ("mean", "median"):
        features = tk.get.cohort_features(adata, library_key="sample", signatures_aggregate=how)
        assert list(features.columns) == ["n_samples", "score:ifng6_ayers2017", "score:hypoxia_buffa2010"]
        for s in ("s1", "s2", "s3"):
            mine = scores[adata.obs["sample"].to_numpy() == s]["ifng6_ayers2017"].to_numpy()
            expected = mine.mean() if how == "mean" else np.median(mine)
            assert features.loc[s, "score:ifng6_ayers2017"] == pytest.approx(expected)


def test_library_keys_that_disagree_are_refused(analysed):
    with pytest.raises(ValueError, match="`library_key='patient'` but the stored results were computed with another"):
        tk.get.cohort_features(analysed, library_key="patient")
    analysed.uns["tmekit_tcell_state"]["params"]["library_key"] = ""
    with pytest.raises(ValueError, match="computed per different samples"):
        tk.get.cohort_features(analysed)


def test_results_not_computed_are_absent_and_a_changed_object_is_refused():
    adata = _tissues()
    tk.tl.classify(adata, library_key="sample_id", n_boot=5)
    features = tk.get.cohort_features(adata)
    assert not [c for c in features if c.startswith(("tcell_state:", "score:"))]
    assert "phenotype:cd8_density" in features and "phenotype:keren2018" not in features
    subset = adata[adata.obs["sample_id"] != "img4"].copy()
    with pytest.raises(ValueError, match=r"has rows for samples \['img4'\] that no observation"):
        tk.get.cohort_features(subset)
    with pytest.raises(ValueError, match="`weight` must be one of"):
        tk.get.cohort_features(adata, patient_key="patient", weight="cell")
    with pytest.raises(ValueError, match="weight='area'"):
        tk.get.cohort_features(_cohort_scored_only(), library_key="sample_id", patient_key="patient", weight="area")


def _cohort_scored_only() -> ad.AnnData:
    adata = _tissues()
    adata.obsm["tmekit_scores"] = pd.DataFrame({"x": np.arange(adata.n_obs, dtype=float)}, index=adata.obs_names)
    return adata


def test_bulk_calls_have_one_sample_per_observation():
    adata = tk.datasets.imvigor210_bulk()[:40].copy()
    tk.tl.classify_expression(adata, scale="zscore")
    features = tk.get.cohort_features(adata)
    assert list(features.index) == list(adata.obs_names)
    model = next(c for c in features if c.startswith("phenotype:"))
    assert list(features[model].astype(str)) == list(tk.get.phenotypes(adata)["phenotype"].astype(str))
    adata.obs["sample"] = adata.obs_names
    with pytest.raises(ValueError, match="one row per observation \\(bulk calls\\): leave `library_key` out"):
        tk.get.cohort_features(adata, library_key="sample")
    adata.obs["patient"] = [f"P{k // 2}" for k in range(adata.n_obs)]  # two samples per patient
    patients = tk.get.cohort_features(adata, patient_key="patient")
    assert len(patients) == 20 and (patients["n_samples"] == 2).all()
    confidence = next(c for c in features if c.startswith("confidence:"))
    assert patients.loc["P0", confidence] == pytest.approx(features[confidence].iloc[:2].mean())  # one cell each


def test_melanoma_images_aggregate_to_patients(read_shared):
    adata = read_shared("melanoma_ici_mif/melanoma_ici_mif.h5ad")
    patients = sorted(adata.obs["patient_id"].astype(str).unique())[:3]
    adata = adata[adata.obs["patient_id"].astype(str).isin(patients)].copy()
    adata.obsm["spatial"] = adata.obs[["x", "y"]].to_numpy(dtype=float)
    cd8 = [c for c in adata.obs["cell_type"].astype(str).unique() if c.startswith("CD8+")]
    immune = [c for c in adata.obs["cell_type"].astype(str).unique() if c != "SOX10+"]
    tk.tl.classify(adata, library_key="image_id", microns_per_unit=2.0, n_boot=5,
                   cell_types={"key": "cell_type", "tumor": ["SOX10+"], "immune": immune, "cd8": cd8})  # fmt: skip
    images = tk.get.cohort_features(adata)
    table = tk.get.cohort_features(adata, patient_key="patient_id")
    assert sorted(table.index) == patients and (table["n_samples"] == 5).all() and len(images) == 15
    one = patients[0]
    mine = adata.obs.loc[adata.obs["patient_id"].astype(str) == one, "image_id"].astype(str)
    cells = mine.value_counts()
    x = images.loc[cells.index, "evidence:density_cd8_core"]
    measured = x.notna()
    expected = (x[measured] * cells[measured]).sum() / cells[measured].sum()
    assert table.loc[one, "evidence:density_cd8_core"] == pytest.approx(expected)


def test_bundled_imvigor210_clinical_is_the_calibration_half():
    clinical = tk.datasets.imvigor210_clinical()
    assert len(clinical) == clinical["patient_id"].nunique() == 142
    assert clinical["immune_phenotype"].value_counts().to_dict() == {"excluded": 67, "desert": 38, "inflamed": 37}
    assert clinical["binary_response"].value_counts(dropna=False).to_dict() == {"SD/PD": 91, "CR/PR": 31, np.nan: 20}
    assert set(clinical["patient_id"]) <= set(tk.datasets.imvigor210_bulk().obs["patient_id"].astype(str))
    assert set(clinical["os_event"]) == {0, 1} and (clinical["os_months"] > 0).all()


def test_bundled_imvigor210_clinical_matches_the_shared_files(shared_data):
    folder = shared_data / "imvigor210"
    shared = pd.read_csv(folder / "imvigor210_calibration_labels.csv").merge(
        pd.read_csv(folder / "imvigor210_calibration_clinical.csv"), on="patient_id"
    )
    bundled = tk.datasets.imvigor210_clinical()
    pd.testing.assert_frame_equal(
        bundled.set_index("patient_id").sort_index(), shared.set_index("patient_id").sort_index(), check_like=True
    )
