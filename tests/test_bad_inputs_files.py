"""Files that cannot be written, interrupted writes, mismatched formats, repeated inputs, ignored options, SpatialData
messages that named no working fix.

Each case of ``CASES`` has its test here (``test_<case>``; tests/test_bad_inputs.py checks it) and its row in the
documentation's table "What tmekit refuses, and why", generated from ``CASES``.
"""

from __future__ import annotations

import errno
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tmekit as tk

KEREN_LABELS = tk.datasets.keren2018_labels()
MPU = 800 / 2048

CASES = {
    "unwritable_output_folder": (
        "an output in a read-only folder",
        "refused before anything is computed, one paragraph, exit 2",
    ),
    "disk_full_during_a_write": (
        "a full disk (or any `OSError`) while the output is written",
        "one line ('could not write ...: nothing was written'), exit 2, no temporary left",
    ),
    "interrupted_during_a_write": (
        "Ctrl-C (SIGINT) or SIGTERM while an `.h5ad` or a `.zarr` store is written",
        "no output and no temporary; Ctrl-C prints 'interrupted, nothing written' and exits 130, SIGTERM exits 143",
    ),
    "suffix_of_another_format": (
        "`tk.io.write(sdata, 'x.h5ad')` or `tk.io.write(adata, 'x.zarr')`",
        "refused: the name must say what the file is (.zarr for SpatialData, .h5ad for AnnData)",
    ),
    "cohort_relative_without_immunoscore": (
        "`cohort_relative=True` / `--cohort-relative` with rule sets that do not read it",
        "a warning (`IgnoredOptionWarning`) naming the rule set that does",
    ),
    "one_file_twice_in_a_report": (
        "`tmekit report a.h5ad a.h5ad a.h5ad` (or one object twice in `tk.report.html`)",
        "refused: the cohort would be counted several times in every table and figure",
    ),
    "spatialdata_without_a_shared_frame": (
        "a SpatialData whose table annotates elements in no common coordinate system",
        "refused, listing each element's coordinate systems and how to give them one",
    ),
    "spatialdata_region_column_mismatch": (
        "a table whose region column names regions the table does not annotate",
        "refused, naming them (no cells with NaN positions)",
    ),
    "user_column_under_a_fixed_name": (
        "a user's `obs['tmekit_tumor_distance']` (a name tmekit always writes)",
        "refused even with `overwrite=True`, with the rename that fixes it (`key_added=` cannot)",
    ),
}


def _accepts(message: str, func: object) -> list[str]:
    """The ``name=`` hints of ``message``; assert ``func`` takes each."""
    names = [m.group(1) for span in re.findall(r"`([^`]+)`", message) if (m := re.match(r"^(\w+)=", span))]
    assert set(names) <= set(inspect.signature(func).parameters), message
    return sorted(set(names))


def _as_other_user(cmd: list[str], folder: Path) -> subprocess.CompletedProcess:
    """Run ``cmd`` as an unprivileged user when we are root (root writes anywhere), else as ourselves."""
    env = {**os.environ, "HOME": str(folder), "MPLCONFIGDIR": str(folder / "mpl"), "NUMBA_CACHE_DIR": str(folder),
           "COLUMNS": "200"}  # fmt: skip
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a read-only folder cannot be made for this process")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def shared_tmp():
    """A folder every user may read and write (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="tmekit-ro-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_unwritable_output_folder(shared_tmp):
    tk.io.write(tk.datasets.keren2018_mibi(), shared_tmp / "keren.h5ad")
    (shared_tmp / "keren.h5ad").chmod(0o644)
    locked = shared_tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    labels = ["--library-key", "patient_id", "--cell-type-key", "cell_type", "--tumor-labels", "Tumour",
              "--immune-labels", ",".join(KEREN_LABELS["immune"]), "--cd8-labels", "CD8T"]  # fmt: skip
    done = _as_other_user([sys.executable, "-m", "tmekit", "classify", "keren.h5ad", "--mode", "spatial", *labels,
                           "--microns-per-unit", str(MPU), "-o", "locked/calls.csv"], shared_tmp)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "is not writable" in done.stderr and "nothing was computed or written" in done.stderr
    assert "Traceback" not in done.stderr and list(locked.iterdir()) == []
    api = _as_other_user([sys.executable, "-c", "import tmekit as tk; tk.io.atomic_write_text('locked/x.txt', 'x')"],
                         shared_tmp)  # fmt: skip
    assert "PermissionError" in api.stderr and "is not writable" in api.stderr


def test_disk_full_during_a_write(cli, folder, keren_cli, refused, monkeypatch):
    import tmekit.cli

    def full(_tmp: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tmekit.cli, "text_writer", lambda _text: full)  # the name the command calls
    done = cli("classify", "keren.h5ad", "--mode", "spatial", *keren_cli, "--microns-per-unit", str(MPU),
               "-o", "calls.csv", cwd=folder)  # fmt: skip
    refused(done, "Could not write", "No space left on device. Nothing was written.")
    assert sorted(p.name for p in folder.iterdir()) == ["keren.h5ad", "wu.h5ad"]  # no output, no temporary
    with pytest.raises(OSError, match=r"^Could not write .*out\.txt: No space left on device\. Nothing was written"):
        tk.io.atomic_write(folder / "out.txt", full)
    assert sorted(p.name for p in folder.iterdir()) == ["keren.h5ad", "wu.h5ad"]


def _interrupt(cmd: list[str], cwd: Path, temporary: str, signum: int, delay: float) -> tuple[int, str]:
    """Start ``cmd``, wait until a temporary named ``temporary*`` exists, wait ``delay`` s more, send ``signum``."""
    proc = subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    for _ in range(30_000):  # up to a minute
        if any(p.name.startswith(temporary) for p in cwd.iterdir()) or proc.poll() is not None:
            break
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    time.sleep(1.5)  # longer than the writer watches for late writes of zarr's I/O thread
    return proc.returncode, stderr


def test_interrupted_during_a_write(keren_sdata, tmp_path):
    tk.io.write(keren_sdata, tmp_path / "in.zarr")
    tk.io.write(tk.datasets.keren2018_mibi(), tmp_path / "in.h5ad")
    labels = ["--library-key", "patient_id", "--cell-type-key", "cell_type", "--tumor-labels", "Tumour",
              "--immune-labels", ",".join(KEREN_LABELS["immune"]), "--cd8-labels", "CD8T",
              "--microns-per-unit", str(MPU)]  # fmt: skip
    runs = [("in.zarr", "out.zarr", signal.SIGINT, d) for d in (0.0, 0.05, 0.1)]
    runs += [("in.zarr", "out.zarr", signal.SIGTERM, d) for d in (0.0, 0.08)]
    runs += [("in.h5ad", "out.h5ad", signal.SIGINT, d) for d in (0.0, 0.03)]
    for source, out, signum, delay in runs:
        cmd = [sys.executable, "-m", "tmekit", "classify", source, "--mode", "spatial", *labels, "-o", "out.csv",
               "--h5ad", out]  # fmt: skip
        code, stderr = _interrupt(cmd, tmp_path, f".{out}.tmekit", signum, delay)
        left = sorted(p.name for p in tmp_path.iterdir() if p.name not in {"in.zarr", "in.h5ad"})
        if code == 0:  # the signal came after the outputs were in place: both written, nothing half-done
            assert left == ["out.csv", out], (signum, delay)
            for name in left:
                shutil.rmtree(tmp_path / name) if (tmp_path / name).is_dir() else (tmp_path / name).unlink()
            continue
        assert left == [], (signum, delay, left)  # neither output, no temporary
        assert "Traceback" not in stderr
        if signum == signal.SIGINT:
            # one line from tmekit; the interpreter may add, at exit, RuntimeWarnings for zarr's async writes the
            # interrupt abandoned (seen with the oldest zarr): runtime noise after the message, never a traceback
            first, *rest = stderr.strip().splitlines()
            assert code == 130 and first == "tmekit: interrupted, nothing written", stderr
            noise = ("RuntimeWarning: coroutine", "RuntimeWarning: Enable tracemalloc")
            assert all(any(n in line for n in noise) for line in rest if line.strip()), stderr
        else:
            assert code == 128 + signal.SIGTERM


def test_suffix_of_another_format(keren_sdata, tmp_path):
    with pytest.raises(ValueError, match=r"SpatialData to '.*x\.h5ad'.*\.zarr store.*Name it x\.zarr"):
        tk.io.write(keren_sdata, tmp_path / "x.h5ad")
    with pytest.raises(ValueError, match=r"AnnData to '.*x\.zarr'.*\.h5ad file.*Name it x\.h5ad"):
        tk.io.write(tk.datasets.keren2018_mibi(), tmp_path / "x.zarr")
    with pytest.raises(ValueError, match=r"Name it cells\.h5ad"):
        tk.io.write_h5ad(tk.datasets.keren2018_mibi(), tmp_path / "cells.csv")
    assert list(tmp_path.iterdir()) == []
    tk.io.write(keren_sdata, tmp_path / "x.zarr")  # the names the messages give work
    tk.io.write(tk.datasets.keren2018_mibi(), tmp_path / "x.h5ad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5ad", "x.zarr"]


def test_cohort_relative_without_immunoscore(keren, cli, folder, keren_cli):
    with pytest.warns(tk.IgnoredOptionWarning, match=r"`cohort_relative=True` is ignored.*\['immunoscore'\]") as w:
        tk.tl.classify(
            keren, library_key="patient_id", microns_per_unit=MPU, cohort_relative=True, cell_types=KEREN_LABELS
        )
    assert w[0].filename == __file__  # points at the user's line
    ref = pd.DataFrame({k: np.linspace(10, 900, 20) for k in ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")})
    with pytest.warns(tk.IgnoredOptionWarning, match="`immunoscore_reference` is ignored"):
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU, immunoscore_reference=ref,
                       overwrite=True, cell_types=KEREN_LABELS)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", tk.IgnoredOptionWarning)  # read: no warning
        tk.tl.classify(keren, rules="immunoscore", library_key="patient_id", microns_per_unit=MPU, overwrite=True,
                       immunoscore_reference=ref, cell_types={**KEREN_LABELS, "t": ["CD8T", "CD4T"]})  # fmt: skip
    done = cli("classify", "keren.h5ad", "--mode", "spatial", *keren_cli, "--microns-per-unit", str(MPU),
               "--cohort-relative", "-o", "c.csv", cwd=folder)  # fmt: skip
    assert done.returncode == 0 and "warning" in done.stderr and "`--cohort-relative` is ignored" in done.stderr


def test_one_file_twice_in_a_report(cli, folder, refused):
    (folder / "again.h5ad").symlink_to(folder / "keren.h5ad")
    refused(cli("report", "keren.h5ad", "keren.h5ad", "keren.h5ad", "-o", "r.html", cwd=folder),
            "'keren.h5ad' names the same file as 'keren.h5ad'", "Give each file once")  # fmt: skip
    refused(cli("report", "keren.h5ad", "again.h5ad", "-o", "r.html", cwd=folder), "names the same file")
    assert not (folder / "r.html").exists()
    adata = tk.datasets.keren2018_mibi()
    with pytest.raises(ValueError, match=r"same object is given more than once \(\['a', 'b'\]\)"):
        tk.report.html({"a": adata, "b": adata})
    assert cli("report", "keren.h5ad", "wu.h5ad", "-o", "r.html", cwd=folder).returncode == 0  # two files: fine


def _table_of(adata, region: list[str] | str, values: list[str]):
    from spatialdata.models import TableModel

    table = adata.copy()
    del table.obsm["spatial"]
    table.obs["region"] = pd.Categorical(values)
    table.obs["cell_id"] = np.arange(adata.n_obs)
    return TableModel.parse(table, region=region, region_key="region", instance_key="cell_id")


def _two_elements(adata, systems: tuple[str, str]):
    import spatialdata as sd
    from spatialdata.models import ShapesModel
    from spatialdata.transformations import Identity

    half = adata.n_obs // 2
    parts = {"a": np.arange(half), "b": np.arange(half, adata.n_obs)}
    shapes = {
        name: ShapesModel.parse(adata.obsm["spatial"][rows], geometry=0, radius=np.full(len(rows), 10.0),
                                index=rows, transformations={cs: Identity()})
        for (name, rows), cs in zip(parts.items(), systems, strict=True)
    }  # fmt: skip
    values = ["a"] * half + ["b"] * (adata.n_obs - half)
    return sd, shapes, values


def test_spatialdata_without_a_shared_frame():
    adata = tk.datasets.keren2018_mibi()
    sd, shapes, values = _two_elements(adata, ("global", "aligned"))
    sdata = sd.SpatialData(shapes=shapes, tables={"cells": _table_of(adata, ["a", "b"], values)})
    with pytest.raises(ValueError, match=r"share no coordinate system \(\{'a': \['global'\], 'b': \['aligned'\]\}\)"):
        tk.tl.classify(sdata, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    from spatialdata.transformations import Identity, set_transformation

    set_transformation(sdata["b"], Identity(), to_coordinate_system="global")  # the fix the message gives
    tk.tl.classify(
        sdata, library_key="patient_id", microns_per_unit=MPU, coordinate_system="global", cell_types=KEREN_LABELS
    )
    assert len(tk.get.phenotypes(sdata)) == 4


def test_spatialdata_region_column_mismatch():
    adata = tk.datasets.keren2018_mibi()
    sd, shapes, values = _two_elements(adata, ("global", "global"))
    sdata = sd.SpatialData(shapes=shapes, tables={"cells": _table_of(adata, ["a", "b"], values)})
    table = sdata.tables["cells"]
    table.obs["region"] = pd.Categorical(np.where(table.obs["region"] == "b", "B", "a"))  # edited afterwards: a typo
    with pytest.raises(KeyError, match=r"rows of the table name regions \['B'\].*not among the regions"):
        tk.tl.classify(sdata, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    assert "tmekit_phenotype" not in sdata.tables["cells"].uns


def test_user_column_under_a_fixed_name(keren):
    keren.obs["tmekit_tumor_distance"] = 1.5  # the user's own column
    for overwrite in (False, True):
        expected = r"no compartments result.*rename\(columns=\{'tmekit_tumor_distance'"
        with pytest.raises(ValueError, match=expected) as err:
            tk.tl.classify(
                keren, library_key="patient_id", microns_per_unit=MPU, overwrite=overwrite, cell_types=KEREN_LABELS
            )
        assert (keren.obs["tmekit_tumor_distance"] == 1.5).all()
    _accepts(str(err.value), tk.sp.compartments)
    keren.obs = keren.obs.rename(columns={"tmekit_tumor_distance": "my_name"})
    tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    tk.tl.classify(
        keren, library_key="patient_id", microns_per_unit=MPU, overwrite=True, cell_types=KEREN_LABELS
    )  # ours
    assert (keren.obs["my_name"] == 1.5).all()
