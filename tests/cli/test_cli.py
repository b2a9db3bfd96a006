"""The `tmekit` command line, through its real entry point, on bundled real data and on bad input."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import anndata as ad
import pandas as pd
import pytest

import tmekit as tk

KEREN_LABELS = tk.datasets.keren2018_labels()

DATA = Path(tk.__file__).parent / "datasets" / "data"


@pytest.fixture
def workdir(tmp_path):
    """A folder of this test's own with copies of the bundled files: no test reads what another one wrote."""
    shutil.copyfile(DATA / "wu2021_cid4465_tnbc.h5ad", tmp_path / "wu.h5ad")
    shutil.copyfile(DATA / "keren2018_mibi_4patients.h5ad", tmp_path / "keren.h5ad")
    shutil.copyfile(DATA / "imvigor210_bulk_subset.h5ad", tmp_path / "bulk.h5ad")
    return tmp_path


KEREN_ARGS = ["--library-key", "patient_id", "--cell-type-key", "cell_type", "--tumor-labels", "Tumour",
              "--immune-labels", ",".join(KEREN_LABELS["immune"]), "--cd8-labels", "CD8T",
              "--microns-per-unit", str(800 / 2048)]  # fmt: skip


def test_console_script_is_declared_and_runs(cli, workdir):
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["tmekit"] == "tmekit.cli:main"
    done = cli.subprocess("classify", "bulk.h5ad", "--mode", "expression", "--scale", "zscore", "-o", "sub.csv",
                          cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(workdir / "sub.csv")) == 348
    bad = cli.subprocess("check", "nowhere.h5ad", cwd=workdir)
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_signatures_commands(cli, workdir):
    listed = cli("signatures", "list", cwd=workdir)
    assert listed.returncode == 0
    assert "ifng6_ayers2017" in listed.stdout and "exhaustion_core_curated" in listed.stdout
    shown = cli("signatures", "show", "IFN-gamma pathway", cwd=workdir)
    assert shown.returncode == 0
    assert all(g in shown.stdout for g in ("IFNG", "STAT1", "CXCL9", "CXCL10", "IDO1", "HLA-DRA"))
    assert "10.1172/JCI91190" in shown.stdout
    assert cli("signatures", "export", "--gmt", "lib.gmt", cwd=workdir).returncode == 0
    sets = tk.signatures.read_gmt(workdir / "lib.gmt")
    assert len(sets) == len(tk.signatures.list())
    again = cli("signatures", "export", "--gmt", "lib.gmt", cwd=workdir)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    missing = cli("signatures", "show", "no_such_set", cwd=workdir)
    assert missing.returncode == 2 and "No signature named" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_check_reports_raw_counts(cli, workdir):
    done = cli("check", "wu.h5ad", cwd=workdir)
    assert done.returncode == 0
    assert "raw_counts" in done.stdout and "1,564 cells" in done.stdout


def test_score_writes_scores_without_touching_the_input(cli, workdir):
    before = (workdir / "wu.h5ad").read_bytes()
    done = cli("score", "wu.h5ad", "-o", "wu_scored.h5ad", "--signatures", "ifng6_ayers2017,cd8_teff_mariathasan2018",
               "--chunk-size", "300", cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (workdir / "wu.h5ad").read_bytes() == before
    scored = ad.read_h5ad(workdir / "wu_scored.h5ad")
    expected = tk.datasets.wu2021_cid4465()
    tk.tl.score(expected, ["ifng6_ayers2017", "cd8_teff_mariathasan2018"], method="rank")
    pd.testing.assert_frame_equal(scored.obsm["tmekit_scores"], expected.obsm["tmekit_scores"])
    assert scored.uns["tmekit_scores"]["method"] == "rank"
    assert (scored.X != expected.X).nnz == 0  # X carried over unchanged


def test_classify_spatial_and_expression(cli, workdir):
    done = cli("classify", "keren.h5ad", "--mode", "spatial", "-o", "keren.csv", "--h5ad", "keren_called.h5ad",
               *KEREN_ARGS, cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(workdir / "keren.csv", index_col=0)
    adata = tk.datasets.keren2018_mibi()
    tk.tl.classify(adata, library_key="patient_id", microns_per_unit=800 / 2048, cell_types=KEREN_LABELS)
    expected = tk.get.phenotypes(adata)
    assert table["phenotype"].tolist() == expected["phenotype"].astype(str).tolist()
    called = ad.read_h5ad(workdir / "keren_called.h5ad")
    assert "tmekit_phenotype" in called.uns and "tmekit_compartment" in called.obs
    bulk = cli("classify", "bulk.h5ad", "--mode", "expression", "--scale", "zscore", "-o", "bulk.csv", cwd=workdir)
    assert bulk.returncode == 0, bulk.stderr
    calls = pd.read_csv(workdir / "bulk.csv", index_col=0)
    assert len(calls) == 348 and calls["inferred"].all()
    expected = tk.get.phenotypes(
        tk.tl.classify_expression(tk.datasets.imvigor210_bulk(), scale="zscore", copy=True)
    )  # --scale arrives
    assert calls["phenotype"].tolist() == expected["phenotype"].astype(str).tolist()
    cells = cli("classify", "wu.h5ad", "--mode", "expression", "--library-key", "sample_id", "-o", "wu.csv",
                cwd=workdir)  # fmt: skip
    assert cells.returncode == 0, cells.stderr
    assert pd.read_csv(workdir / "wu.csv", index_col=0).index.tolist() == ["CID4465"]


def test_classify_several_frameworks(cli, workdir):
    tissues = [tk.datasets.synthetic_tissue(p, rng=k, sample_id=p, pdl1=(0.3, 0.1))
               for k, p in enumerate(("inflamed", "excluded", "desert"))]  # fmt: skip
    ad.concat(tissues, merge="first").write_h5ad(workdir / "fields.h5ad")
    labels = tk.datasets.synthetic_labels()
    args = ["--library-key", "sample_id", "--cell-type-key", "cell_type", "--tumor-labels", "Tumour",
            "--immune-labels", ",".join(labels["immune"]), "--cd8-labels", "CD8T", "--t-labels", "CD8T,CD4T",
            "--microns-per-unit", "1"]  # fmt: skip
    done = cli("classify", "fields.h5ad", "--mode", "spatial", "-o", "calls.csv", "--rules",
               "cd8_density,til_pdl1,immunoscore", "--pdl1-key", "pdl1", "--cohort-relative", *args,
               cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(til_pdl1)" in done.stdout and "(immunoscore)" in done.stdout
    table = pd.read_csv(workdir / "calls.csv", index_col=0)
    adata = ad.concat(tissues, merge="first")
    tk.tl.classify(
        adata,
        rules=["cd8_density", "til_pdl1", "immunoscore"],
        library_key="sample_id",
        microns_per_unit=1.0,
        cohort_relative=True,
        cell_types={**labels, "t": ["CD8T", "CD4T"], "pdl1": "pdl1"},
    )
    expected = tk.get.phenotypes(adata)
    for rule in ("cd8_density", "til_pdl1", "immunoscore"):
        assert table[f"phenotype_{rule}"].tolist() == expected[f"phenotype_{rule}"].astype(str).tolist()
    assert table.loc["inflamed", "phenotype_til_pdl1"] == "PD-L1+/TIL+"
    missing = cli("classify", "fields.h5ad", "--mode", "spatial", "-o", "none.csv", "--rules", "til_pdl1", *args,
                  cwd=workdir)  # fmt: skip
    assert missing.returncode == 2 and "CD274: `--pdl1-key`" in missing.stderr and "Traceback" not in missing.stderr
    bulk = cli("classify", "bulk.h5ad", "--mode", "expression", "--rules", "til_pdl1", "-o", "b.csv", cwd=workdir)
    assert bulk.returncode == 2 and "CD274" in bulk.stderr  # the bundled 48-gene subset cannot infer PD-L1


def test_classify_pdl1_labels_is_the_api_list_form(cli, workdir):
    """`--pdl1-labels` gives PD-L1 as PD-L1+ cell types: the same table as `pdl1=[labels]`; never with --pdl1-key."""
    tissues = [tk.datasets.synthetic_tissue(p, rng=k, sample_id=p, pdl1=(0.0, 0.4))
               for k, p in enumerate(("inflamed", "excluded"))]  # fmt: skip
    adata = ad.concat(tissues, merge="first")
    positive = adata.obs["pdl1"].to_numpy() & (adata.obs["cell_type"] == "CD8T").to_numpy()
    adata.obs["cell_type"] = adata.obs["cell_type"].astype(str).where(~positive, "CD8T_PDL1+")
    adata.write_h5ad(workdir / "labelled.h5ad")
    immune = [*tk.datasets.synthetic_labels()["immune"], "CD8T_PDL1+"]
    args = ["classify", "labelled.h5ad", "--mode", "spatial", "--library-key", "sample_id", "--cell-type-key",
            "cell_type", "--tumor-labels", "Tumour", "--immune-labels", ",".join(immune), "--cd8-labels",
            "CD8T,CD8T_PDL1+", "--rules", "til_pdl1_ic,til_pdl1", "--microns-per-unit", "1"]  # fmt: skip
    done = cli(*args, "-o", "ic.csv", "--pdl1-labels", "CD8T_PDL1+", cwd=workdir)
    assert done.returncode == 0, done.stderr
    tk.tl.classify(adata, rules=["til_pdl1_ic", "til_pdl1"], library_key="sample_id", microns_per_unit=1.0,
                   cell_types={"key": "cell_type", "tumor": ["Tumour"], "immune": immune,
                               "cd8": ["CD8T", "CD8T_PDL1+"], "pdl1": ["CD8T_PDL1+"]})  # fmt: skip
    tk.get.phenotypes(adata).to_csv(workdir / "api.csv")
    table, expected = (pd.read_csv(workdir / f, index_col=0) for f in ("ic.csv", "api.csv"))
    pd.testing.assert_frame_equal(table, expected)
    assert (table["ic_percent"] > 0).all() and table["ic_category"].notna().all()
    both = cli(*args, "-o", "both.csv", "--pdl1-labels", "CD8T_PDL1+", "--pdl1-key", "pdl1", cwd=workdir)
    assert both.returncode == 2 and "not both" in both.stderr and not (workdir / "both.csv").exists()
    none = cli(*args, "-o", "none.csv", cwd=workdir)  # the role message names both spellings
    assert none.returncode == 2 and "`--pdl1-key`" in none.stderr and "`--pdl1-labels`" in none.stderr
    assert "pdl1=" not in none.stderr and "cell_types=" not in none.stderr


def test_annotate_writes_the_api_cell_types(cli, workdir):
    before = (workdir / "wu.h5ad").read_bytes()
    done = cli("annotate", "wu.h5ad", "-o", "typed.h5ad", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert (workdir / "wu.h5ad").read_bytes() == before
    typed = ad.read_h5ad(workdir / "typed.h5ad")
    expected = tk.datasets.wu2021_cid4465()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        tk.tl.annotate(expected)
    assert typed.obs["tmekit_cell_type"].astype(str).tolist() == expected.obs["tmekit_cell_type"].astype(str).tolist()
    assert "tmekit_cell_type_scores" in typed.obsm and "Epithelial" in done.stdout


def test_raw_xenium_to_a_call_from_the_command_line(cli, workdir, shared_data):
    """The new user's path: a raw Xenium export, no cell types -> annotate -> classify (issue 19)."""
    raw = ad.read_h5ad(shared_data / "xenium_breast_idc" / "xenium_breast_idc_subregion.h5ad")
    raw[:, ~raw.var["is_control"].to_numpy()].copy().write_h5ad(workdir / "xen.h5ad")
    done = cli("annotate", "xen.h5ad", "-o", "annotated.h5ad", cwd=workdir)
    assert done.returncode == 0, done.stderr
    labels = tk.tl.annotation_labels()
    called = cli("classify", "annotated.h5ad", "--mode", "spatial", "-o", "calls.csv", "--cell-type-key",
                 "tmekit_cell_type", "--tumor-labels", "Epithelial", "--immune-labels",
                 ",".join(labels["immune"]), "--cd8-labels", "CD8 T", "--microns-per-unit", "1",
                 cwd=workdir)  # fmt: skip
    assert called.returncode == 0, called.stderr
    at_once = cli("classify", "xen.h5ad", "--mode", "spatial", "--annotate", "-o", "once.csv", "--microns-per-unit",
                  "1", "--rules", "cd8_density,til_pdl1", "--pdl1-key", "CD274", cwd=workdir)  # fmt: skip
    assert at_once.returncode == 0, at_once.stderr
    two_steps, one_step = (pd.read_csv(workdir / f, index_col=0) for f in ("calls.csv", "once.csv"))
    assert two_steps["phenotype"].tolist() == one_step["phenotype"].tolist()
    row = one_step.iloc[0]  # the TIL x PD-L1 type from the TPS and intratumoural CD8 density in the file
    expected = f"PD-L1{'+' if row['tps'] >= 1 else '-'}/TIL{'+' if row['density_cd8_intratumoral'] > 100 else '-'}"
    assert row["phenotype_til_pdl1"] == expected
    clash = cli("classify", "xen.h5ad", "--mode", "spatial", "--annotate", "--cell-type-key", "x", "-o", "c.csv",
                cwd=workdir)  # fmt: skip
    assert clash.returncode == 2 and "not both" in clash.stderr


def test_classify_spot_data(cli, workdir):
    """Visium-like spots: deconvolved with the bundled reference, then the spot rule set."""
    spots = tk.datasets.synthetic_spots("excluded", rng=0)
    spots.write_h5ad(workdir / "spots.h5ad")
    done = cli("classify", "spots.h5ad", "--mode", "spatial", "-o", "spots.csv", "--h5ad", "spots_called.h5ad",
               cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(workdir / "spots.csv", index_col=0)
    assert table["phenotype"].tolist() == ["excluded"] and table["rules"].tolist() == ["spot_cd8"]
    called = ad.read_h5ad(workdir / "spots_called.h5ad")
    assert "tmekit_spot_content" in called.obsm and "tmekit_spot_content" in called.uns
    assert (called.obs["tmekit_phenotype"] == "excluded").all()
    wrong = cli("classify", "spots.h5ad", "--mode", "spatial", "--rules", "keren2018", "-o", "x.csv", cwd=workdir)
    assert wrong.returncode == 2 and "spot_cd8" in wrong.stderr


def test_report_from_files(cli, workdir):
    assert cli("score", "wu.h5ad", "-o", "wu_rep.h5ad", cwd=workdir).returncode == 0
    called = cli("classify", "keren.h5ad", "--mode", "spatial", "-o", "keren.csv", "--h5ad", "keren_called.h5ad",
                 *KEREN_ARGS, cwd=workdir)  # fmt: skip
    assert called.returncode == 0, called.stderr
    done = cli("report", "wu_rep.h5ad", "keren_called.h5ad", "-o", "cohort.html", "--groupby", "cell_type_major",
               cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (workdir / "cohort.html").read_text()
    assert all(f'id="{s}"' in page for s in tk.report.SECTIONS)
    assert page.count("data:image/png;base64,") >= 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "nowhere.h5ad"], "does not exist"),
        (["check", "notes.h5ad"], "not an .h5ad file"),
        (["score", "wu.h5ad", "-o", "wu.h5ad"], "it is the input file"),
        (["score", "wu.h5ad", "-o", "new.h5ad", "--signatures", "ifng6_ayers2017", "--gmt", "x.gmt"], "not both"),
        (["score", "wu.h5ad", "-o", "x.h5ad", "--gmt", "mouse.gmt"], "species='mouse'"),
        (["classify", "wu.h5ad", "--mode", "spatial", "-o", "s.csv", "--cell-type-key", "cell_type_major",
          "--tumor-labels", "Cancer Epithelial", "--immune-labels", "T-cells", "--cd8-labels", "T-cells"],
         "spatial functions need cell coordinates"),
        (["classify", "keren.h5ad", "--mode", "spatial", "-o", "k.csv", "--library-key", "patient_id",
          "--cell-type-key", "cell_type", "--tumor-labels", "Tumor", "--immune-labels", "CD8T",
          "--cd8-labels", "CD8T"], "Tumor"),
        (["classify", "bulk.h5ad", "--mode", "bulk", "-o", "b.csv"], "Unknown --mode 'bulk'"),
        (["classify", "bulk.h5ad", "--mode", "expression", "-o", "b.csv", "--tumor-labels", "Tumour",
          "--microns-per-unit", "1"], "['--microns-per-unit', '--tumor-labels'] apply to --mode spatial only"),
        (["classify", "keren.h5ad", "--mode", "spatial", "-o", "k.csv", "--scale", "zscore"],
         "--scale applies to --mode expression only"),
        (["score", "wu.h5ad", "-o", "x.h5ad", "--species", "rat"], "Unknown species='rat'"),
    ],
)  # fmt: skip
def test_bad_input_gives_a_message_and_exit_code_2(cli, workdir, args, message):
    (workdir / "notes.h5ad").write_text("gene,value\nCD8A,1\n")
    (workdir / "mouse.gmt").write_text("mouse_t\tdesc\tCd8a\tCd3e\tGzmb\tPrf1\n")
    done = cli(*args, cwd=workdir)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and "--debug" in done.stderr
    debug = cli("--debug", *args, cwd=workdir)
    assert debug.returncode != 0 and debug.exception is not None  # --debug lets the exception (traceback) through


def test_quiet_prints_nothing_on_success(cli, workdir):
    done = cli("--quiet", "classify", "bulk.h5ad", "--mode", "expression", "--scale", "zscore", "-o", "quiet.csv",
               cwd=workdir)  # fmt: skip
    assert done.returncode == 0
    assert done.stdout == ""


def test_arguments_of_the_other_mode_are_refused():
    """Spatial and expression calls are two functions: an option of the other one is not silently ignored."""
    bulk = tk.datasets.imvigor210_bulk()
    with pytest.raises(TypeError, match="microns_per_unit"):
        tk.tl.classify_expression(bulk, scale="zscore", microns_per_unit=1.0)
    with pytest.raises(ValueError, match=r"takes rules=None .* not 'keren2018'"):
        tk.tl.classify_expression(bulk, scale="zscore", rules="keren2018")
    keren = tk.datasets.keren2018_mibi()
    with pytest.raises(TypeError, match="model"):
        tk.tl.classify(keren, library_key="patient_id", model="m.json")
    assert "tmekit_phenotype" not in bulk.uns and "tmekit_phenotype" not in keren.uns


def _digest(folder: Path) -> dict[str, bytes]:
    """Every file of a folder (a zarr store) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_spatialdata_store_in_and_out(cli, workdir, keren_sdata):
    """A SpatialData .zarr store: the same calls as the .h5ad, a new store with the results, the input untouched."""
    tk.io.write_spatialdata(keren_sdata, workdir / "keren.zarr")
    before = _digest(workdir / "keren.zarr")
    done = cli("classify", "keren.zarr", "--mode", "spatial", "-o", "calls.csv", "--h5ad", "called.zarr",
               *KEREN_ARGS, cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    same = cli("classify", "keren.h5ad", "--mode", "spatial", "-o", "calls_h5ad.csv", *KEREN_ARGS, cwd=workdir)
    assert same.returncode == 0, same.stderr
    pd.testing.assert_frame_equal(pd.read_csv(workdir / "calls.csv"), pd.read_csv(workdir / "calls_h5ad.csv"))
    called = tk.io.read(workdir / "called.zarr")
    assert "tmekit_compartment_boundaries" in called.shapes and "tmekit_phenotype" in called.tables["cells"].obs
    assert _digest(workdir / "keren.zarr") == before
    wrong = cli("classify", "keren.zarr", "--mode", "spatial", "-o", "c.csv", "--h5ad", "x.h5ad", *KEREN_ARGS,
                cwd=workdir)  # fmt: skip
    assert wrong.returncode == 2 and ".zarr name" in wrong.stderr and not (workdir / "c.csv").exists()
    inside = cli("classify", "keren.zarr", "--mode", "spatial", "-o", "keren.zarr/c.csv", *KEREN_ARGS, cwd=workdir)
    assert inside.returncode == 2 and "inside the input store" in inside.stderr
    assert _digest(workdir / "keren.zarr") == before
    page = cli("report", "called.zarr", "-o", "report.html", cwd=workdir)
    assert page.returncode == 0, page.stderr
    assert "excluded" in (workdir / "report.html").read_text() or "inflamed" in (workdir / "report.html").read_text()


def test_raw_xenium_store_to_a_call(cli, workdir, xenium_sdata):
    """tmekit annotate then classify on a SpatialData store of a raw Xenium export (positions in pixels + Scale)."""
    adata, sdata = xenium_sdata
    tk.io.write_spatialdata(sdata, workdir / "xen.zarr")
    adata.write_h5ad(workdir / "xen.h5ad")
    for name in ("xen.zarr", "xen.h5ad"):
        typed = name.replace("xen", "typed")
        done = cli("annotate", name, "-o", typed, cwd=workdir)
        assert done.returncode == 0, done.stderr
        called = cli("classify", typed, "--mode", "spatial", "--annotate", "--overwrite", "-o", f"{typed}.csv",
                     "--microns-per-unit", "1", cwd=workdir)  # fmt: skip
        assert called.returncode == 0, called.stderr
    pd.testing.assert_frame_equal(pd.read_csv(workdir / "typed.zarr.csv"), pd.read_csv(workdir / "typed.h5ad.csv"))
    check = cli("check", "typed.zarr", cwd=workdir)
    assert check.returncode == 0 and "micrometres" in check.stdout
