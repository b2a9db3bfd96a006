"""Shared fixtures: the dataset shipped in the package, and the real datasets in ../shared/data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import dask.array as da
import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

import tmekit as tk

# Import squidpy's stack (spatialdata, ome-zarr, xarray, ...) once with warnings silenced: the suite runs with
# warnings as errors, and deprecations those packages raise among themselves at import time (e.g. ome-zarr's
# `Scaler`) are not tmekit's to fix. Warnings raised while tmekit *runs* still fail the tests. spatialdata's writers
# are imported on first write (and import ome-zarr's writer): imported here too, for the same reason.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import spatialdata._io  # noqa: F401
    import squidpy  # noqa: F401

mpl.use("Agg")  # tests draw off-screen
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TMEKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the `shared_data` fixture carry the `shared_data` marker (select with -m)."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def chromium():
    """A headless Chromium (selenium), closed after the test; skipped with the reason when it is not installed.

    With ``TMEKIT_REQUIRE_BROWSER`` set (as in CI) a missing browser fails the test instead.
    """
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("TMEKIT_REQUIRE_BROWSER"):
            pytest.fail("TMEKIT_REQUIRE_BROWSER is set but chromium/chromedriver are not installed")
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--window-size=1280,2000"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real datasets (../shared/data); tests using it skip with a reason when absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (clone beside ../shared or set TMEKIT_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def _wu_counts_session() -> ad.AnnData:
    return tk.datasets.wu2021_cid4465()


@pytest.fixture(scope="session")
def wu_cells(_wu_counts_session: ad.AnnData) -> ad.AnnData:
    """The bundled Wu 2021 tumour (raw counts), shared by the session: read it, never modify it."""
    return _wu_counts_session


@pytest.fixture
def wu_counts(_wu_counts_session: ad.AnnData) -> ad.AnnData:
    """The bundled Wu 2021 tumour (raw counts), a fresh copy per test."""
    return _wu_counts_session.copy()


@pytest.fixture(scope="session")
def wu_lognorm(_wu_counts_session: ad.AnnData) -> ad.AnnData:
    """The bundled Wu 2021 tumour, normalised to 1e4 per cell and log1p-transformed (read-only use)."""
    adata = _wu_counts_session.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata


@pytest.fixture(scope="session")
def read_shared(shared_data: Path):
    """``read_shared("wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad", backed=None)`` reads from ../shared/data."""

    def _read(relpath: str, **kwargs: object) -> ad.AnnData:
        return ad.read_h5ad(shared_data / relpath, **kwargs)

    return _read


#: Every array type an AnnData X can be, built from a dense array (STYLE.md: scanpy's ARRAY_TYPES).
ARRAY_TYPES = {
    "dense": np.asarray,
    "csr_matrix": sp.csr_matrix,
    "csc_matrix": sp.csc_matrix,
    "csr_array": sp.csr_array,
    "csc_array": sp.csc_array,
    "dask_dense": lambda X: da.from_array(np.asarray(X), chunks=(37, -1)),
    "dask_csr": lambda X: da.from_array(sp.csr_matrix(X), chunks=(53, -1)),
}


@pytest.fixture(params=list(ARRAY_TYPES))
def array_type(request):
    """``(name, converter)`` for each array type; numeric functions must give identical results on all."""
    return request.param, ARRAY_TYPES[request.param]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    exception: BaseException | None = None


class Cli:
    """The `tmekit` command line: ``cli(*args, cwd=...)`` in-process (Typer's runner), ``cli.subprocess`` for real."""

    def __call__(self, *args: str, cwd: Path) -> CliResult:
        from typer.testing import CliRunner

        from tmekit.cli import app

        old = Path.cwd()
        os.chdir(cwd)
        try:
            result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
        finally:
            os.chdir(old)
        return CliResult(result.exit_code, result.stdout, result.stderr, result.exception)

    @staticmethod
    def subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        """`python -m tmekit ...` runs exactly what the `tmekit` console script runs (tmekit.cli:main)."""
        env = {**os.environ, "COLUMNS": "200", "MPLBACKEND": "Agg"}
        return subprocess.run([sys.executable, "-m", "tmekit", *args], cwd=cwd, capture_output=True, text=True,
                              env=env, check=False)  # fmt: skip


@pytest.fixture(scope="session")
def cli() -> Cli:
    """Run the `tmekit` command line on files in a folder (see :class:`Cli`)."""
    return Cli()


BUNDLED = Path(tk.__file__).parent / "datasets" / "data"


@pytest.fixture
def keren() -> ad.AnnData:
    """The bundled Keren 2018 MIBI fields (4 patients, positions in pixels), a fresh copy per test."""
    return tk.datasets.keren2018_mibi()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A new folder holding the bundled files as keren.h5ad (MIBI fields) and wu.h5ad (scRNA-seq counts)."""
    shutil.copyfile(BUNDLED / "keren2018_mibi_4patients.h5ad", tmp_path / "keren.h5ad")
    shutil.copyfile(BUNDLED / "wu2021_cid4465_tnbc.h5ad", tmp_path / "wu.h5ad")
    return tmp_path


@pytest.fixture(scope="session")
def keren_cli() -> list[str]:
    """The command-line options naming keren.h5ad's samples and cell types (add --microns-per-unit)."""
    labels = tk.datasets.keren2018_labels()
    return ["--library-key", "patient_id", "--cell-type-key", "cell_type", "--tumor-labels", "Tumour",
            "--immune-labels", ",".join(labels["immune"]), "--cd8-labels", "CD8T"]  # fmt: skip


@pytest.fixture(scope="session")
def refused():
    """``refused(result, *phrases)``: a command refused its input (exit 2, no traceback) and said the phrases."""

    def check(done: CliResult | subprocess.CompletedProcess, *phrases: str) -> None:
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        for phrase in phrases:
            assert phrase in done.stderr, done.stderr

    return check


@pytest.fixture(scope="session")
def synthetic_spot_tissues() -> dict[tuple[str, int], ad.AnnData]:
    """Two seeds of each synthetic spot tissue, deconvolved with the default reference (read-only; copy to edit)."""
    out = {}
    for phenotype in ("inflamed", "excluded", "desert", "near_inflamed", "near_excluded"):
        for seed in (0, 1):
            spots = tk.datasets.synthetic_spots(phenotype, rng=seed)
            tk.sp.spot_content(spots)
            out[phenotype, seed] = spots
    return out


def _region_table(adata: ad.AnnData, regions: list[str]) -> ad.AnnData:
    """``adata`` without positions, annotating ``regions`` (one per cell in obs['region']) by obs['cell_id']."""
    from spatialdata.models import TableModel

    table = adata.copy()
    del table.obsm["spatial"]  # positions only through the region
    table.obs["region"] = pd.Categorical(regions)
    table.obs["cell_id"] = np.arange(adata.n_obs)
    return TableModel.parse(table, region=sorted(set(regions)), region_key="region", instance_key="cell_id")


@pytest.fixture
def keren_sdata():
    """The bundled Keren MIBI fields as a SpatialData: one circles element per patient, in image pixels (identity to
    "global"); the table "cells" annotates all four. Call with ``microns_per_unit=800/2048`` as for the AnnData."""
    import spatialdata as sd
    from spatialdata.models import ShapesModel
    from spatialdata.transformations import Identity

    adata = tk.datasets.keren2018_mibi()
    regions = [f"fov_{p}" for p in adata.obs["patient_id"]]
    shapes = {}
    for name in sorted(set(regions)):
        rows = np.flatnonzero(np.asarray(regions) == name)
        shapes[name] = ShapesModel.parse(adata.obsm["spatial"][rows], geometry=0, radius=np.full(len(rows), 10.0),
                                         index=rows, transformations={"global": Identity()})  # fmt: skip
    return sd.SpatialData(shapes=shapes, tables={"cells": _region_table(adata, regions)})


@pytest.fixture
def xenium_sdata(read_shared):
    """(AnnData, SpatialData) of the Xenium breast sub-region without control probes: cell circles stored in
    0.2125-um pixels with a Scale transformation to micrometres in "global"; the table has no obsm['spatial']."""
    import spatialdata as sd
    from spatialdata.models import ShapesModel
    from spatialdata.transformations import Scale

    raw = read_shared("xenium_breast_idc/xenium_breast_idc_subregion.h5ad")
    adata = raw[:, ~raw.var["is_control"].to_numpy()].copy()
    px = 0.2125
    circles = ShapesModel.parse(adata.obsm["spatial"] / px, geometry=0, radius=np.full(adata.n_obs, 5 / px),
                                index=np.arange(adata.n_obs),
                                transformations={"global": Scale([px, px], axes=("x", "y"))})  # fmt: skip
    table = _region_table(adata, ["cell_circles"] * adata.n_obs)
    return adata, sd.SpatialData(shapes={"cell_circles": circles}, tables={"table": table})
