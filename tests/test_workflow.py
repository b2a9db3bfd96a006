"""The Snakemake cohort workflow runs end to end on a three-sample cohort of real files (scRNA, spatial, bulk)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import tmekit as tk

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflows" / "Snakefile"


#: Three real files from ../shared/data: scRNA counts, a 33-patient MIBI cohort, 195 bulk log2 TPM tumours.
SHARED_SHEET = (
    "sample\tpath\tkind\tlibrary_key\tcell_type_key\ttumor_labels\timmune_labels\tcd8_labels\trules\tmicrons_per_unit"
    "\tlayer\tscale\tmin_overlap\n"
    "wu_cid4465\t../shared/data/wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad\tscrna\tsample_id\t\t\t\t\t\t\t\t\t\n"
    "keren_mibi\t../shared/data/keren_tnbc_mibi/keren_tnbc_full33.h5ad\tspatial\tpatient_id\tcell_type\tTumour\t"
    "CD8T,CD4T,CD3T,Treg,NK,B,Macrophage,DC,DCMono,MonoNeu,Neutrophil,Otherimmune\tCD8T\tcd8_density\t0.390625\t\t\t\n"
    "imvigor_bladder\t../shared/data/imvigor210/imvigor210_bladder195_log2tpm.h5ad\tbulk\t\t\t\t\t\t\t\t\tlog2\t0.3\n"
)


def test_documented_workflow_commands_run_in_a_clone_without_shared(tmp_path):
    """The commands of the docs' cohort page, verbatim, in a folder holding only the workflow: no ../shared needed
    (issue 19)."""
    page = (REPO / "docs" / "guide" / "cohorts.md").read_text()
    commands = [
        "tmekit demo --export tmekit-demo-data",
        "snakemake --snakefile workflows/Snakefile --configfile workflows/config.example.yaml --cores 2",
    ]
    assert all(c in page for c in commands)
    shutil.copytree(REPO / "workflows", tmp_path / "workflows")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "MPLBACKEND": "Agg"}
    env.pop("TMEKIT_SHARED_DATA", None)
    for command in commands:
        done = subprocess.run(command.split(), cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, (command, done.stderr[-3000:])
    table = pd.read_csv(tmp_path / "results" / "cohort_calls.csv", index_col=0)
    assert table["dataset"].value_counts().to_dict() == {"imvigor210_bulk": 348, "keren2018_mibi": 4, "wu2021_tnbc": 1}
    assert not table.loc[table["dataset"] == "keren2018_mibi", "inferred"].any()
    assert (tmp_path / "results" / "report.html").stat().st_size > 10_000


def test_example_sample_sheet_is_valid():
    with (REPO / "workflows" / "samples.example.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert {r["kind"] for r in rows} == {"scrna", "spatial", "bulk"}
    assert all(r["sample"] and r["path"].endswith(".h5ad") for r in rows)
    assert (REPO / "workflows" / "profiles" / "slurm" / "config.yaml").read_text().count("executor: slurm") == 1


def test_cohort_workflow_end_to_end(shared_data, tmp_path):
    sheet = SHARED_SHEET.replace("../shared/data", str(shared_data))
    columns = sheet.splitlines()[0].split("\t")
    raw = {
        "sample": "xenium_raw",
        "path": str(shared_data / "xenium_breast_idc" / "xenium_breast_idc_subregion.h5ad"),
        "kind": "spatial",
        "microns_per_unit": "1",
    }  # raw counts, no cell types: annotated by the workflow
    sheet += "\t".join(raw.get(c, "") for c in columns) + "\n"
    (tmp_path / "samples.tsv").write_text(sheet)
    (tmp_path / "config.yaml").write_text(f"samples: {tmp_path / 'samples.tsv'}\noutdir: {tmp_path / 'results'}\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
         "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", "--directory", str(tmp_path)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "results"
    table = pd.read_csv(results / "cohort_calls.csv", index_col=0)
    assert table["dataset"].value_counts().to_dict() == {
        "imvigor_bladder": 195, "keren_mibi": 33, "wu_cid4465": 1, "xenium_raw": 1,
    }  # fmt: skip
    assert table.loc[table["dataset"] == "xenium_raw", "phenotype"].isin(["inflamed", "excluded", "desert"]).all()
    # the workflow's MIBI calls are those of the API on the same file and options (its sheet row), patient by patient
    keren = tk.io.read_h5ad(shared_data / "keren_tnbc_mibi" / "keren_tnbc_full33.h5ad")
    row = dict(zip(columns, SHARED_SHEET.splitlines()[2].split("\t"), strict=True))
    labels = {role: row[f"{role}_labels"].split(",") for role in ("tumor", "immune", "cd8")}
    tk.tl.classify(keren, rules=row["rules"], library_key=row["library_key"],
                   microns_per_unit=float(row["microns_per_unit"]),
                   cell_types={**labels, "key": row["cell_type_key"]})  # fmt: skip
    api = tk.get.phenotypes(keren)
    mibi = table[table["dataset"] == "keren_mibi"]
    mibi.index = mibi.index.astype(str).str.replace("keren_mibi:", "", regex=False)
    pd.testing.assert_series_equal(mibi.loc[api.index, "phenotype"].astype(str), api["phenotype"].astype(str),
                                   check_names=False, check_index_type=False)  # fmt: skip
    # each spatial call is the cd8_density rule on the densities the table reports; each expression call the most
    # probable class
    spatial = table[(table["mode"] == "spatial") & (table["phenotype"] != "indeterminate")]
    assert set(spatial["dataset"]) == {"keren_mibi", "xenium_raw"}
    core, margin = spatial["density_cd8_core"], spatial["density_cd8_margin"]
    by_hand = np.where(core > 100, "inflamed", np.where(margin > 200, "excluded", "desert"))
    assert (spatial["phenotype"].to_numpy() == by_hand).all()
    expression = table[(table["mode"] == "expression") & (table["phenotype"] != "indeterminate")]
    probabilities = expression[["p_desert", "p_excluded", "p_inflamed"]]
    assert (expression["phenotype"].to_numpy() == probabilities.idxmax(axis=1).str[2:].to_numpy()).all()
    assert (table.loc[table["phenotype"] == "indeterminate", "reason"].fillna("") != "").all()
    assert not table.loc[table["dataset"] == "keren_mibi", "inferred"].any()
    assert table.loc[table["dataset"] == "imvigor_bladder", "inferred"].all()
    # the sheet's per-sample options reach the command line: --scale log2, --rules cd8_density
    assert table.loc[table["dataset"] == "imvigor_bladder", "input_scale"].eq("log2").all()
    assert table.loc[table["dataset"] == "keren_mibi", "rules"].eq("cd8_density").all()
    assert not (results / "wu_cid4465" / "scored.h5ad").exists()  # the intermediate copy is temporary
    page = (results / "report.html").read_text()
    assert all(f'<section id="{s}">' in page for s in tk.report.SECTIONS)
    for sample in ("wu_cid4465", "keren_mibi", "imvigor_bladder"):
        assert "values:" in (results / sample / "check.txt").read_text()  # the per-sample input check ran
