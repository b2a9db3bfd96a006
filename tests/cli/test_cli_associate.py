"""`tmekit associate` and `tmekit report --clinical`: a cohort of images nested in patients against outcomes."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact

import tmekit as tk


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """12 patients x 2 images (6 inflamed patients, 6 deserts), classified; a clinical CSV of the patients: 5 of the
    inflamed and 1 desert patient respond; survival longer for the inflamed."""
    folder = tmp_path_factory.mktemp("associate")
    fields = [tk.datasets.synthetic_tissue("inflamed" if k < 6 else "desert", rng=2 * k + i, sample_id=f"S{k}_{i}")
              for k in range(12) for i in range(2)]  # fmt: skip
    adata = ad.concat(fields, merge="first")
    tk.pp.cell_types(adata, **tk.datasets.synthetic_labels())
    adata.obs["patient"] = adata.obs["sample_id"].str.split("_").str[0]
    tk.tl.classify(adata, rules="cd8_density", library_key="sample_id", microns_per_unit=1.0)
    adata.write_h5ad(folder / "cohort.h5ad")
    patients = [f"S{k}" for k in range(12)]
    responded = [k < 5 or k == 6 for k in range(12)]
    months = [30, 28, 25, 33, 21, 19, 8, 6, 9, 4, 7, 5]
    clinical = pd.DataFrame({"patient_id": patients, "response": np.where(responded, "PR", "PD"), "months": months,
                             "died": [0] * 3 + [1] * 9})  # fmt: skip
    clinical.to_csv(folder / "clinical.csv", index=False)
    return folder


def test_associate_per_patient_from_the_command_line(cli, cohort):
    folder = cohort
    done = cli("associate", "cohort.h5ad", "--clinical", "clinical.csv", "--id-key", "patient_id", "--patient-key",
               "patient", "--response", "response", "--positive", "PR", "--duration", "months", "--event", "died",
               "--n-boot", "50", "-o", "tests.csv", "--features", "features.csv", cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "12 ids matched the clinical table" in done.stdout
    features = pd.read_csv(folder / "features.csv", index_col=0)
    assert len(features) == 12 and (features["n_samples"] == 2).all()  # one row per patient, never pooled cells
    tests = pd.read_csv(folder / "tests.csv")
    row = tests[(tests["feature"] == "phenotype:cd8_density") & (tests["test"] == "fisher")].iloc[0]
    # 5 of 6 inflamed patients respond, 1 of 6 deserts
    assert row["n"] == 12 and row["n_events"] == 6
    assert row["p"] == pytest.approx(fisher_exact([[5, 1], [1, 5]]).pvalue)
    assert {"auc", "cox", "logrank", "logrank_median"} <= set(tests["test"])


def test_report_with_clinical_adds_the_association_section(cli, cohort):
    folder = cohort
    done = cli("report", "cohort.h5ad", "-o", "cohort.html", "--clinical", "clinical.csv", "--id-key", "patient_id",
               "--patient-key", "patient", "--response", "response", "--positive", "PR", cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (folder / "cohort.html").read_text()
    section = page[page.index('id="association"') : page.index('id="provenance"')]
    assert "12 ids matched" in section and section.count("data:image/png;base64,") >= 2  # forest + response rates
    plain = cli("report", "cohort.h5ad", "-o", "plain.html", cwd=folder)
    assert plain.returncode == 0, plain.stderr
    assert "No outcome tested" in (folder / "plain.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "cohort.h5ad", "-o", "r.html", "--response", "response"], "give it too"),
        (["associate", "cohort.h5ad", "--clinical", "clinical.csv", "-o", "t.csv"], "Give --response"),
        (["associate", "cohort.h5ad", "cohort.h5ad", "--clinical", "clinical.csv", "--response", "response", "-o",
          "t.csv"], "more than once"),
        (["associate", "cohort.h5ad", "--clinical", "clinical.csv", "--response", "response", "-o", "t.csv"],
         "No id of the feature table"),
    ],
)  # fmt: skip
def test_associate_refusals(cli, cohort, args, message):
    folder = cohort
    done = cli(*args, cwd=folder)
    assert done.returncode == 2 and message in done.stderr.replace("\n", " "), done.stderr
    assert not (folder / "t.csv").exists() and not (folder / "r.html").exists()
