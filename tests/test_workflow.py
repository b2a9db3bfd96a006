"""The Snakemake cohort workflow runs end to end on a three-sample cohort of real files (scRNA, spatial, bulk)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

import tmekit as tk

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflows" / "Snakefile"


def test_example_sample_sheet_is_valid():
    with (REPO / "workflows" / "samples.example.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert {r["kind"] for r in rows} == {"scrna", "spatial", "bulk"}
    assert all(r["sample"] and r["path"].endswith(".h5ad") for r in rows)
    assert (REPO / "workflows" / "profiles" / "slurm" / "config.yaml").read_text().count("executor: slurm") == 1


def test_cohort_workflow_end_to_end(shared_data, tmp_path):
    sheet = (REPO / "workflows" / "samples.example.tsv").read_text().replace("../shared/data", str(shared_data))
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
    assert set(table["phenotype"]) <= {"inflamed", "excluded", "desert", "indeterminate"}
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
