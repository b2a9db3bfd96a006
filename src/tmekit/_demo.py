"""The main job, end to end, on real data shipped in the package (``tmekit demo``)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import scanpy as sc

import tmekit as tk
from tmekit._constants import HEADLINE_SIGNATURES, SCORES_KEY
from tmekit._warnings import collect_tmekit_warnings
from tmekit.datasets import keren2018_labels

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

__all__ = ["export_demo_data", "run_demo"]

KEREN_LABELS = keren2018_labels()


#: The workflow sample sheet's columns (workflows/Snakefile), in order.
SHEET_COLUMNS = ("sample", "path", "kind", "library_key", "cell_type_key", "tumor_labels", "immune_labels",
                 "cd8_labels", "rules", "microns_per_unit", "layer", "scale", "min_overlap", "score")  # fmt: skip


def export_demo_data(folder: Path, *, force: bool = False) -> Path:
    """Write the three bundled real datasets as ``.h5ad`` files plus a workflow sample sheet and config.

    ``folder/`` gets ``wu2021_tnbc.h5ad`` (scRNA-seq counts), ``keren2018_mibi.h5ad`` (MIBI cells and types),
    ``imvigor210_bulk.h5ad`` (bulk z-scores), ``samples.tsv`` (absolute paths, each sample's options) and
    ``config.yaml`` (sheet and ``folder/results``), so ``snakemake --snakefile workflows/Snakefile --configfile
    folder/config.yaml`` runs anywhere. Returns the config's path. All files are written as one (or none).
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    data = {"wu2021_tnbc": tk.datasets.wu2021_cid4465(), "keren2018_mibi": tk.datasets.keren2018_mibi(),
            "imvigor210_bulk": tk.datasets.imvigor210_bulk()}  # fmt: skip
    rows = [
        {"sample": "wu2021_tnbc", "kind": "scrna", "library_key": "sample_id"},
        {"sample": "keren2018_mibi", "kind": "spatial", "library_key": "patient_id", "cell_type_key": "cell_type",
         **{f"{k}_labels": ",".join(KEREN_LABELS[k]) for k in ("tumor", "immune", "cd8")},
         "rules": "cd8_density", "microns_per_unit": str(800 / 2048)},
        {"sample": "imvigor210_bulk", "kind": "bulk", "scale": "zscore", "score": "no"},  # z-scores: not scored
    ]  # fmt: skip
    lines = ["\t".join(SHEET_COLUMNS)]
    for row in rows:
        row["path"] = str(folder / f"{row['sample']}.h5ad")
        lines.append("\t".join(row.get(c, "") for c in SHEET_COLUMNS))
    config = folder / "config.yaml"
    writers = {folder / f"{name}.h5ad": (lambda tmp, a=adata: a.write_h5ad(tmp)) for name, adata in data.items()}
    writers[folder / "samples.tsv"] = lambda tmp: tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = f"# written by `tmekit demo --export`\nsamples: {folder / 'samples.tsv'}\noutdir: {folder / 'results'}\n"
    writers[config] = lambda tmp: tmp.write_text(text, encoding="utf-8")
    tk.io.atomic_write_many(writers, overwrite=force)
    return config


@contextlib.contextmanager
def _silent(_text: str) -> Generator[Callable[[str], None], None, None]:
    yield lambda _t: None


def run_demo(
    outdir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], contextlib.AbstractContextManager[Callable[[str], None]]] = _silent,
    say: Callable[[str], None] = print,
) -> Path:
    """Score and classify three bundled real datasets and write ``outdir/report.html``.

    1. Wu 2021 TNBC tumour (scRNA-seq): input check, all human library signatures scored per cell (rank),
       the expression-based call of its pseudobulk (score groups: the authors' cell types), and, from the raw data
       with no label written by hand, cell types from markers (``tk.tl.annotate``) and the CD8 T-cell states.
    2. Keren 2018 MIBI-TOF, 4 patients: tumour compartments and the spatial call (CD8-density rules).
    3. IMvigor210, 348 bulk tumours (z-scores): the expression-based call per tumour.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    target = tk.io.check_output_path(outdir / "report.html", overwrite=force, how_to_replace="Pass --force")
    with progress("demo") as update:
        with collect_tmekit_warnings() as caught:
            update("Wu 2021 TNBC (scRNA-seq): checking")
            wu = tk.datasets.wu2021_cid4465()
            check = tk.pp.check(wu)
            wu.layers["counts"] = wu.X.copy()  # the demo owns this object: log-normalise X, keep the counts
            sc.pp.normalize_total(wu, target_sum=1e4)
            sc.pp.log1p(wu)
            update("Wu 2021: scoring the signature library")
            tk.tl.score(wu, list(tk.signatures.list().query("species == 'human'").index), method="rank")
            update("Wu 2021: expression-based call (pseudobulk)")
            tk.tl.classify_expression(wu, library_key="sample_id", layer="counts")
            update("Wu 2021: cell types from markers and CD8 T-cell states (no label written by hand)")
            tk.tl.annotate(wu)  # declares its labels: tcell_states reads which cells are CD8 T cells
            tk.tl.tcell_states(wu, library_key="sample_id")

            update("Keren 2018 MIBI (4 patients): compartments and spatial call")
            keren = tk.datasets.keren2018_mibi()
            tk.tl.classify(keren, library_key="patient_id", microns_per_unit=800 / 2048)  # its cell types are declared

            update("IMvigor210 (348 bulk tumours): expression-based calls")
            bulk = tk.datasets.imvigor210_bulk()
            tk.tl.classify_expression(bulk, scale="zscore")  # the file holds per-gene z-scores

        wu_call, keren_call, bulk_call = (tk.get.phenotypes(a) for a in (wu, keren, bulk))
        update("writing the report")
        caught_all = [f"{w.category.__name__}: {w.message}" for w in caught]
        objects = {"wu2021_tnbc": wu, "keren2018_mibi": keren, "imvigor210_bulk": bulk}
        tk.report.html(objects, target, title="tmekit demo: three real datasets", groupby={
            "wu2021_tnbc": "cell_type_major"}, warnings=caught_all, overwrite=force)  # fmt: skip
        for name, table in (("wu2021_tnbc", wu_call), ("keren2018_mibi", keren_call), ("imvigor210_bulk", bulk_call)):
            tk.io.atomic_write_text(outdir / f"{name}_calls.csv", table.to_csv(), overwrite=True)

    say(f"tmekit {tk.__version__} demo on real data shipped in the package\n")
    say(f"Wu 2021 TNBC tumour CID4465: {wu.n_obs:,} cells x {wu.n_vars:,} genes")
    say(f"  input check: {check.value_kind} ({check.value_detail}); {check.gene_id_type} IDs, {check.species}")
    head = wu.obsm[SCORES_KEY][list(HEADLINE_SIGNATURES.values())]
    head.columns = list(HEADLINE_SIGNATURES)
    table = head.groupby(wu.obs["cell_type_major"].astype(str).to_numpy()).mean()
    n_sets = wu.obsm[SCORES_KEY].shape[1]
    say(f"Scored {n_sets} library signatures on {wu.n_obs:,} cells (method 'rank', UCell).")
    say("Mean headline-module score per cell type (authors' annotation):")
    say(table.to_string(float_format="{:.3f}".format))
    say("Highest cell type per module: " + "; ".join(f"{m}: {table[m].idxmax()}" for m in HEADLINE_SIGNATURES))
    row = wu_call.iloc[0]
    say(f"\nExpression-based call (inferred): {row['phenotype']} (confidence {row['confidence']:.2f})")
    typed = wu.obs["tmekit_cell_type"].astype(str).value_counts()
    states = tk.get.tcell_states(wu).iloc[0]
    say(
        f"Cell types from markers: {', '.join(f'{k} {v}' for k, v in typed.head(6).items())}; CD8 T-cell states of "
        f"its {int(states['n_cd8'])} CD8 T cells: progenitor {states['frac_progenitor_exhausted']:.2f}, terminal "
        f"{states['frac_terminal_exhausted']:.2f}, CXCL13+ {states['frac_cxcl13']:.2f}"
    )
    say("\nKeren 2018 MIBI, spatial call per patient (CD8 density, core vs margin):")
    say(keren_call[["phenotype", "confidence", "density_cd8_core", "density_cd8_margin"]].to_string(
        float_format="{:.2f}".format))  # fmt: skip
    counts = bulk_call["phenotype"].astype(str).value_counts().to_dict()
    say(f"\nIMvigor210, 348 bulk tumours, expression-based calls: {counts}")
    say(f"{len(caught_all)} warnings recorded in the report:")
    for note in caught_all:
        say(f"  {note}")
    return target
