"""Progress of long work (issue 19): the library reports what it does and how far it is; the command line shows a
bar with counts on a terminal, nothing under --quiet or when stderr is not a terminal; results never change."""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

import tmekit as tk
import tmekit._cli_app as cli_app
from tmekit._progress import reporting

KEREN = tk.datasets.keren2018_labels()
CALL = {
    "library_key": "patient_id",
    "microns_per_unit": 800 / 2048,
    "cell_types": {"key": "cell_type", "tumor": "Tumour", "immune": KEREN["immune"], "cd8": ["CD8T"]},
}


def _listen():
    heard: list[tuple[str, int, int]] = []
    return heard, lambda what, done, total: heard.append((what, done, total))


def test_scoring_reports_its_row_chunks(wu_lognorm):
    quiet = tk.tl.score(wu_lognorm, ["T-cell exhaustion"], chunk_size=100, copy=True)
    heard, listener = _listen()
    with reporting(listener):
        loud = tk.tl.score(wu_lognorm, ["T-cell exhaustion"], chunk_size=100, copy=True)
    steps = [(done, total) for what, done, total in heard if what == "scoring cells"]
    n = wu_lognorm.n_obs
    assert len(steps) == -(-n // 100) and steps[-1] == (n, n)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(steps))
    np.testing.assert_array_equal(tk.get.scores(loud).to_numpy(), tk.get.scores(quiet).to_numpy())


def test_spatial_calls_report_samples():
    adata = tk.datasets.keren2018_mibi()
    heard, listener = _listen()
    with reporting(listener):
        tk.tl.classify(adata, **CALL, rules="cd8_density,keren2018")
    last = {what: (done, total) for what, done, total in heard}
    assert last["tumour regions (samples)"] == (4, 4) and last["tiles (samples)"] == (4, 4)
    assert last["cd8_density: confidence (samples)"] == (4, 4) and last["keren2018: confidence (samples)"] == (4, 4)
    expected = tk.tl.classify(tk.datasets.keren2018_mibi(), **CALL, rules="cd8_density,keren2018", copy=True)
    pd.testing.assert_frame_equal(tk.get.phenotypes(adata), tk.get.phenotypes(expected))


def _keren_file(folder: Path) -> Path:
    path = folder / "keren.h5ad"
    shutil.copyfile(Path(tk.__file__).parent / "datasets" / "data" / "keren2018_mibi_4patients.h5ad", path)
    return path


ARGS = ["--mode", "spatial", "--library-key", "patient_id", "--cell-type-key", "cell_type", "--tumor-labels",
        "Tumour", "--immune-labels", ",".join(KEREN["immune"]), "--cd8-labels", "CD8T",
        "--microns-per-unit", str(800 / 2048)]  # fmt: skip


def test_command_line_bar_on_a_terminal_only(cli, tmp_path, monkeypatch):
    _keren_file(tmp_path)
    screen = io.StringIO()
    monkeypatch.setattr(cli_app, "err", Console(file=screen, force_terminal=True, width=150))
    done = cli("classify", "keren.h5ad", "-o", "a.csv", *ARGS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = screen.getvalue()
    assert "classifying (spatial)" in shown and "4/4" in shown  # samples counted
    screen.truncate(0)
    quiet = cli("--quiet", "classify", "keren.h5ad", "-o", "b.csv", *ARGS, cwd=tmp_path)
    assert quiet.returncode == 0 and screen.getvalue() == ""
    monkeypatch.undo()  # stderr captured by the runner: not a terminal, so no bar
    plain = cli("classify", "keren.h5ad", "-o", "c.csv", *ARGS, cwd=tmp_path)
    assert plain.returncode == 0 and "classifying" not in plain.stderr
    tables = [pd.read_csv(tmp_path / f) for f in ("a.csv", "b.csv", "c.csv")]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])
