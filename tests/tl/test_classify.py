"""`tk.tl.classify` on synthetic tissues and spots whose phenotype is known by construction, and its dispatch."""

from __future__ import annotations

import hashlib

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()


CLEAR = ("inflamed", "excluded", "desert")


def _classify(adata, rules, **kwargs):
    tk.tl.classify(adata, rules=rules, overwrite=True, cell_types={**LABELS, **kwargs.pop("cell_types", {})}, **kwargs)
    return tk.get.phenotypes(adata)


@pytest.mark.parametrize("rules", ["cd8_density", "keren2018"])
@pytest.mark.parametrize("phenotype", CLEAR)
@pytest.mark.parametrize("seed", range(3))
def test_clear_cases_are_called_correctly(phenotype, rules, seed):
    adata = tk.datasets.synthetic_tissue(phenotype, rng=seed)
    row = _classify(adata, rules).iloc[0]
    assert row.phenotype == phenotype
    assert row.confidence >= 0.9
    assert not row.inferred
    assert (adata.obs["tmekit_phenotype"] == phenotype).all()


def test_near_threshold_cases_get_lower_confidence():
    clear = [
        _classify(tk.datasets.synthetic_tissue(p, rng=s), "cd8_density").iloc[0].confidence
        for p in CLEAR
        for s in range(3)
    ]
    near = [
        _classify(tk.datasets.synthetic_tissue(p, rng=s), "cd8_density").iloc[0].confidence
        for p in ("near_inflamed", "near_excluded")
        for s in range(3)
    ]
    assert max(near) < min(clear)
    assert np.mean(near) < 0.95


def test_multi_sample_object_with_a_tumour_free_sample():
    parts = [tk.datasets.synthetic_tissue(p, rng=7, sample_id=p) for p in CLEAR]
    no_tumour = tk.datasets.synthetic_tissue("inflamed", rng=8, sample_id="no_tumour")
    no_tumour = no_tumour[no_tumour.obs["cell_type"] != "Tumour"].copy()
    adata = ad.concat([*parts, no_tumour], merge="first")
    table = _classify(adata, "cd8_density", library_key="sample_id")
    assert table.loc["inflamed", "phenotype"] == "inflamed"
    assert table.loc["excluded", "phenotype"] == "excluded"
    assert table.loc["desert", "phenotype"] == "desert"
    assert table.loc["no_tumour", "phenotype"] == "indeterminate"
    assert table.loc["no_tumour", "confidence"] == 0.0
    assert "tumour cells" in table.loc["no_tumour", "reason"]
    assert set(adata.uns["tmekit_phenotype"]["table"].index) == set(table.index)


def test_too_small_sample_is_indeterminate():
    full = tk.datasets.synthetic_tissue("inflamed", rng=3)
    centre = full.obsm["spatial"][full.obs["cell_type"] == "Tumour"].mean(axis=0)
    window = (np.abs(full.obsm["spatial"] - centre) < 30).all(axis=1)  # a 60 x 60 um crop: ~14 tumour cells
    row = _classify(full[window].copy(), "cd8_density").iloc[0]
    assert row.phenotype == "indeterminate"
    assert row.confidence == 0.0


def test_confidence_is_seeded_and_reads_the_seed():
    """Near a threshold the replicates decide: the same seed gives the same share, another seed another one; far
    from every threshold (an inflamed field, core ~6x the cut) every replicate agrees, whatever the seed."""
    near = tk.datasets.synthetic_tissue("near_inflamed", rng=1)
    a = _classify(near.copy(), "cd8_density", rng=3).iloc[0].confidence
    b = _classify(near.copy(), "cd8_density", rng=3).iloc[0].confidence
    c = _classify(near.copy(), "cd8_density", rng=4).iloc[0].confidence
    assert a == b and a != c and 0.3 < a < 0.95
    far = tk.datasets.synthetic_tissue("inflamed", rng=1)
    assert {_classify(far.copy(), "cd8_density", rng=r).iloc[0].confidence for r in (3, 4)} == {1.0}


def test_confidence_is_the_share_of_seeded_replicates_repeating_the_call():
    """The confidence by hand: the sample's tiles resampled with replacement (n_boot times) and the CD8 densities
    times one log-normal factor (median 1, CV 0.25) per replicate, drawn from a generator seeded by the call's
    seed and the sample's name (multinomial weights, then the factors); the share of replicates whose
    densities give the sample's own call under the cd8_density rule (core > 100, else margin > 200)."""
    adata = tk.datasets.synthetic_tissue("near_inflamed", rng=1)
    row = _classify(adata, "cd8_density", rng=3, n_boot=150).iloc[0]
    tiles = tk.sp.tile_table(adata, contacts=None, cell_types=LABELS)
    n = len(tiles)
    gen = np.random.default_rng([3, int(hashlib.sha256(b"all").hexdigest()[:15], 16)])
    weights = gen.multinomial(n, np.full(n, 1 / n), size=150)
    factor = np.exp(gen.normal(0.0, np.sqrt(np.log1p(0.25**2)), 150))
    counts = tiles[["n_cd8_core", "area_core", "n_cd8_margin", "area_margin"]].to_numpy(float)
    n_core, a_core, n_margin, a_margin = (weights @ counts).T
    core, margin = n_core / a_core * factor, n_margin / a_margin * factor
    calls = np.where(core > 100, "inflamed", np.where(margin > 200, "excluded", "desert"))
    assert row.phenotype == "inflamed"
    assert row.confidence == np.mean(calls == "inflamed")
    assert 0.3 < row.confidence < 0.95  # a near-threshold field: the replicates disagree


def test_bad_inputs_get_clear_errors():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0)
    no_coords = adata.copy()
    del no_coords.obsm["spatial"]
    with pytest.raises(KeyError, match=r"obsm\['spatial'\]` not found.*adata\.obs\[\['x', 'y'\]\]"):
        tk.tl.classify(no_coords, cell_types=LABELS)
    moved = adata.copy()
    moved.obsm["X_spatial"] = moved.obsm.pop("spatial")
    with pytest.raises(KeyError, match="spatial_key='X_spatial'"):
        tk.tl.classify(moved, cell_types=LABELS)
    with pytest.raises(ValueError, match=r"cd8 labels \['CD8'\] do not occur"):
        tk.tl.classify(adata, cell_types={**LABELS, "cd8": ["CD8"]})
    with pytest.raises(KeyError, match="the cell types' `key`"):
        tk.tl.classify(adata, cell_types={**LABELS, "key": "celltype"})
    with pytest.raises(ValueError, match="too small"):
        tk.datasets.synthetic_tissue("inflamed", size_um=150)
    with pytest.raises(ValueError, match="Unknown rule set"):
        tk.tl.classify(adata, rules="galon_2006", cell_types=LABELS)
    with pytest.raises(ValueError, match=r"'immunoscore' needs the `t` labels.*cohort_relative=True"):
        tk.tl.classify(adata, rules="immunoscore", cell_types=LABELS)
    with pytest.raises(ValueError, match="Unknown thresholds"):
        tk.tl.classify(adata, thresholds={"core": 5}, cell_types=LABELS)
    with pytest.raises(KeyError, match="library_key"):
        tk.tl.classify(adata, library_key="patient", cell_types=LABELS)
    tk.tl.classify(adata, cell_types=LABELS)
    with pytest.raises(ValueError, match="overwrite=True"):
        tk.tl.classify(adata, cell_types=LABELS)


def test_thresholds_can_be_overridden():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0)
    row = _classify(adata, "cd8_density", thresholds={"core_cd8_per_mm2": 5000.0, "margin_cd8_per_mm2": 5000.0}).iloc[0]
    assert row.phenotype == "desert"
    assert row.threshold_core_cd8_per_mm2 == 5000.0


@pytest.fixture(scope="module")
def synthetic(synthetic_spot_tissues):
    """The session's synthetic spot tissues (shared by every test file that needs them)."""
    return synthetic_spot_tissues


# ------------------------------------------------------------------------------------ calls on spot data
def test_clear_synthetic_spot_tissues_are_called_correctly(synthetic):
    for phenotype in CLEAR:
        for seed in (0, 1):
            spots = synthetic[phenotype, seed].copy()
            tk.tl.classify(spots)
            table = tk.get.phenotypes(spots)
            row = table.iloc[0]
            assert row.phenotype == phenotype, (phenotype, seed, row.to_dict())
            assert row.confidence >= 0.75  # deconvolved fractions are noisy: a clear tissue is not always certain
            assert row.rules == "spot_cd8" and row.data == "spots" and not row.inferred
            assert {"fraction_cd8_core", "fraction_cd8_margin", "n_spots_core", "tumor_area_mm2"} <= set(table)
            assert (spots.obs["tmekit_phenotype"] == phenotype).all()


def test_near_threshold_spot_tissues_get_lower_confidence(synthetic):
    def confidence(spots):
        return tk.get.phenotypes(tk.tl.classify(spots, copy=True))["confidence"].iloc[0]

    clear = [confidence(synthetic[p, s]) for p in CLEAR for s in (0, 1)]
    near = [confidence(synthetic[p, s]) for p in ("near_inflamed", "near_excluded") for s in (0, 1)]
    assert max(near) < 0.9 and np.median(near) < 0.8 < np.median(clear)
    assert np.mean(near) < np.mean(clear) - 0.2


def test_spot_rules_and_evidence_floor(synthetic):
    spots = synthetic["inflamed", 0].copy()
    with pytest.raises(ValueError, match=r"is for cells, but this is spot data.*spot_cd8"):
        tk.tl.classify(spots, rules="cd8_density")
    tk.tl.classify(spots, thresholds={"min_tumor_spots": 10_000})
    table = tk.get.phenotypes(spots)
    assert table.phenotype.iloc[0] == "indeterminate" and "tumour spots" in table.reason.iloc[0]
    assert table.confidence.iloc[0] == 0.0


def test_two_samples_on_spots_are_called_separately(synthetic):
    both = ad.concat([synthetic["inflamed", 0], synthetic["excluded", 0]], uns_merge="first")
    both.obsm["tmekit_spot_content"] = pd.concat(
        [synthetic["inflamed", 0].obsm["tmekit_spot_content"], synthetic["excluded", 0].obsm["tmekit_spot_content"]]
    )
    tk.tl.classify(both, library_key="sample_id")
    table = tk.get.phenotypes(both)
    assert table.loc["inflamed", "phenotype"] == "inflamed"
    assert table.loc["excluded", "phenotype"] == "excluded"


# ------------------------------------------------------------------------------------------------ the dispatcher
def test_classify_is_a_writer_with_copy():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=1)
    assert tk.tl.classify(adata, cell_types=LABELS) is None
    assert tk.get.phenotypes(adata)["phenotype"].tolist() == ["inflamed"]
    fresh = tk.datasets.synthetic_tissue("inflamed", rng=1)
    called = tk.tl.classify(fresh, copy=True, cell_types=LABELS)
    assert "tmekit_phenotype" not in fresh.uns and "tmekit_compartment" not in fresh.obs  # the input is untouched
    pd.testing.assert_frame_equal(tk.get.phenotypes(called), tk.get.phenotypes(adata))
    assert tk.get.phenotype_params(called)["rules"] == "cd8_density"


def test_existing_compartments_are_reused_only_when_made_alike():
    adata = tk.datasets.synthetic_tissue("excluded", rng=4)
    tk.sp.compartments(adata, margin_width=80.0, cell_types={"key": "cell_type", "tumor": "Tumour"})
    tk.tl.classify(adata, cell_types=LABELS)  # same cell types and labels: the user's 80 um margin is kept
    assert tk.get.phenotypes(adata)["margin_halfwidth_um"].iloc[0] == 80.0
    other_labels = {**LABELS, "tumor": ["Tumour", "Stroma"]}
    with pytest.raises(ValueError, match=r"made with other parameters \(tumor_labels: stored \['Tumour'\]"):
        tk.tl.classify(adata, key_added="other", cell_types=other_labels)
    assert "other" not in adata.uns  # refused before anything was written
    tk.tl.classify(adata, overwrite=True, key_added="other", cell_types=other_labels)
    assert tk.get.compartments(adata)["margin_halfwidth_um"].iloc[0] != 80.0  # recomputed on request


def test_a_new_rule_set_is_one_registered_rule(monkeypatch):
    """What a new framework touches: a PhenotypeRule registered under its name; the dispatcher does the rest."""

    def decide(metrics, thresholds):
        return np.where(metrics["density_immune_tissue"] > thresholds["immune_per_mm2"], "inflamed", "desert")

    rule = tk.tl.PhenotypeRule(name="immune_only", description="inflamed above 1,000 immune cells per mm^2",
                               source="a test", thresholds={"immune_per_mm2": 1000.0},
                               reads=("density_immune_tissue",), decide=decide)  # fmt: skip
    monkeypatch.setitem(tk.tl.RULES, "immune_only", rule)  # register_rule(rule), undone after this test
    adata = tk.datasets.synthetic_tissue("desert", rng=0)
    tk.tl.classify(adata, rules="immune_only", cell_types=LABELS)
    table = tk.get.phenotypes(adata)
    assert table["rules"].iloc[0] == "immune_only" and table["threshold_immune_per_mm2"].iloc[0] == 1000.0
    expected = "inflamed" if table["density_immune_tissue"].iloc[0] > 1000 else "desert"
    assert table["phenotype"].iloc[0] == expected and 0 < table["confidence"].iloc[0] <= 1


def test_contacts_only_for_rules_that_read_them(monkeypatch):
    """cd8_density reads no contact: the graph is not built, its columns are NaN, and the call is the same as when a
    rule set that reads contacts (keren2018) shares the call (issue 20)."""
    import tmekit.sp._metrics as metrics

    adata = tk.datasets.keren2018_mibi()
    labels = tk.datasets.keren2018_labels()
    call = {"library_key": "patient_id", "microns_per_unit": 800 / 2048, "cell_types": labels}
    both = tk.tl.classify(adata, rules="cd8_density,keren2018", **call, copy=True)

    def no_graph(*_args, **_kwargs):
        msg = "the contact graph was built"
        raise AssertionError(msg)

    monkeypatch.setattr(metrics, "touching_edges", no_graph)
    tk.tl.classify(adata, rules="cd8_density", **call)
    alone = tk.get.phenotypes(adata)
    assert alone["mixing_fraction"].isna().all() and (alone["contacts"] == "not computed").all()
    shared = tk.get.phenotypes(both)
    columns = ["phenotype_cd8_density", "confidence_cd8_density", "density_cd8_core", "density_cd8_margin"]
    pd.testing.assert_frame_equal(alone[columns], shared[columns])
    with pytest.raises(AssertionError, match="contact graph was built"):
        tk.tl.classify(adata, rules="keren2018", **call, overwrite=True)
