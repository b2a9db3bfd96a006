"""The ``tmekit`` command line: a thin Typer layer over the public API (no logic of its own)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

import tmekit as tk
from tmekit._cli_app import (
    CoordinateSystem,
    Force,
    Input,
    Overwrite,
    TableKey,
    app,
    out,
    progress,
    say,
    show,
    signatures_app,
    split,
    user_errors,
)
from tmekit._cli_cohort import Outcome
from tmekit._cli_files import cells, new_outputs, object_writer, read, same_kind, snapshot, text_writer
from tmekit._constants import CELL_TYPE_KEY, PHENOTYPE_KEY, SCORES_KEY
from tmekit._warnings import collect_tmekit_warnings

__all__ = ["app", "main"]


# ------------------------------------------------------------------------------------ signatures
@signatures_app.command("list")
def signatures_list(category: Annotated[str | None, typer.Option(help="Only this category.")] = None) -> None:
    """List the library: name, category, genes, citation."""
    with user_errors():
        table = tk.signatures.list()
        if category:
            table = table[table["category"] == category]
        out.print(table[["category", "n_genes", "verified", "citation"]].to_string(max_colwidth=60))


@signatures_app.command("show")
def signatures_show(name: Annotated[str, typer.Argument(help="Library name or headline module name.")]) -> None:
    """Show one signature: genes (with direction and weight) and provenance."""
    with user_errors():
        sig = tk.signatures.get(name)
        out.print(f"[bold]{sig.name}[/bold] v{sig.version} ({sig.category}): {sig.description}")
        out.print(f"{sig.citation} doi:{sig.doi} pmid:{sig.pmid}")
        out.print(sig.to_frame().to_string(index=False))


@signatures_app.command("export")
def signatures_export(
    gmt: Annotated[Path, typer.Option("--gmt", help="GMT file to write.")],
    names: Annotated[str | None, typer.Option(help="Comma-separated names (default: all).")] = None,
    force: Force = False,
) -> None:
    """Write signatures to a GMT file (up genes; one line per set)."""
    with user_errors():
        new_outputs(gmt, inputs=[], force=force)
        chosen = split(names) or list(tk.signatures.list().index)
        with collect_tmekit_warnings() as caught:
            tk.signatures.write_gmt([tk.signatures.get(n) for n in chosen], gmt, overwrite=force)
        show(caught)
        say(f"wrote {len(chosen)} signatures to {gmt}")


# ------------------------------------------------------------------------------------ check / score
@app.command()
def check(
    path: Input,
    layer: Annotated[str | None, typer.Option(help="Layer to check instead of X.")] = None,
    library_key: Annotated[str | None, typer.Option(help="obs column of samples (for the cells' spacing).")] = None,
    table_key: TableKey = None,
    coordinate_system: CoordinateSystem = None,
) -> None:
    """Input report: counts vs log data, gene IDs, species, NaN, empty cells, positions, signature coverage."""
    with user_errors():
        data = read(path)
        with progress(f"checking {path.name}"):
            report = tk.pp.check(data, layer=layer, library_key=library_key, table_key=table_key,
                                 coordinate_system=coordinate_system)  # fmt: skip
        out.print(str(report))


@app.command()
def score(
    path: Annotated[
        Path, typer.Argument(help="Input .h5ad file (read in row chunks; X is never loaded whole) or .zarr store.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .h5ad or .zarr (input plus scores).")],
    signatures: Annotated[str | None, typer.Option(help="Comma-separated library names.")] = None,
    gmt: Annotated[Path | None, typer.Option(help="GMT file of your own signatures.")] = None,
    method: Annotated[str, typer.Option(help="rank (UCell) or mean (score_genes).")] = "rank",
    layer: Annotated[str | None, typer.Option(help="Layer to score instead of X.")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Rows per chunk.")] = None,
    min_overlap: Annotated[float, typer.Option(help="Share of each signature's genes that must be present.")] = 0.5,
    species: Annotated[
        str, typer.Option(help="auto, human or mouse: sets of the other species go through orthologs.")
    ] = "auto",
    key_added: Annotated[str, typer.Option(help="obsm/uns key for the scores.")] = SCORES_KEY,
    table_key: TableKey = None,
    overwrite: Overwrite = False,
    force: Force = False,
) -> None:
    """Score every cell with library or GMT signatures; writes obsm/uns['tmekit_scores']."""
    with user_errors():
        new_outputs(output, inputs=[path, *([gmt] if gmt else [])], force=force)
        if signatures and gmt:
            msg = "Give --signatures or --gmt, not both."
            raise ValueError(msg)
        chosen: object = gmt if gmt else (split(signatures) or [s.name for s in tk.signatures.headline()])
        data = read(path)
        same_kind(data, output)
        adata = cells(data, table_key)
        before = snapshot(adata)
        with progress(f"scoring {adata.n_obs:,} cells"), collect_tmekit_warnings() as caught:
            tk.tl.score(data, chosen, method=method, layer=layer, chunk_size=chunk_size, min_overlap=min_overlap,  # type: ignore[arg-type]
                        species=species, key_added=key_added, overwrite=overwrite, table_key=table_key)  # fmt: skip
        show(caught)
        tk.io.atomic_write_many({output: object_writer(path, data, before)}, overwrite=force, inputs=[path])
        say(f"scored {adata.obsm[key_added].shape[1]} signatures on {adata.n_obs:,} cells -> {output}")


# ------------------------------------------------------------------------------------ annotate
@app.command()
def annotate(
    path: Annotated[
        Path,
        typer.Argument(
            help="Input .h5ad or .zarr (cells x genes: scRNA-seq, Xenium, CosMx, MERFISH; or protein panels)."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .h5ad or .zarr (input plus cell types).")],
    modality: Annotated[str, typer.Option(help="auto, rna or protein (MIBI, IMC, CODEX, mIF channels).")] = "auto",
    library_key: Annotated[
        str | None, typer.Option(help="Protein: obs column of samples (channels are scaled per sample).")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer to read instead of X (counts or log: same ranks).")] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Smallest winning score at each level (default: RNA 0.1, protein 0.1).")
    ] = None,
    min_margin: Annotated[
        float | None, typer.Option(help="Smallest lead over the runner-up (default: RNA 0.02, protein 0.05).")
    ] = None,
    min_overlap: Annotated[
        float, typer.Option(help="Marker sets with fewer of their genes measured are left out.")
    ] = 0.3,
    species: Annotated[str, typer.Option(help="auto, human or mouse.")] = "auto",
    key_added: Annotated[str, typer.Option(help="obs key for the cell types.")] = CELL_TYPE_KEY,
    table_key: TableKey = None,
    overwrite: Overwrite = False,
    force: Force = False,
) -> None:
    """Cell types from markers, lineage first (with 'unassigned'); writes obs['tmekit_cell_type'] and the scores."""
    with user_errors():
        new_outputs(output, inputs=[path], force=force)
        data = read(path)
        same_kind(data, output)
        adata = cells(data, table_key)
        before = snapshot(adata)
        with progress(f"annotating {adata.n_obs:,} cells"), collect_tmekit_warnings() as caught:
            tk.tl.annotate(data, modality=modality, library_key=library_key, layer=layer, min_score=min_score,
                           min_margin=min_margin, min_overlap=min_overlap, species=species, key_added=key_added,
                           overwrite=overwrite, table_key=table_key)  # fmt: skip
        show(caught)
        tk.io.atomic_write_many({output: object_writer(path, data, before)}, overwrite=force, inputs=[path])
        counts = adata.obs[key_added].value_counts()
        say(f"{adata.n_obs:,} cells: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v) + f" -> {output}")


# ------------------------------------------------------------------------------------ classify
@app.command()
def classify(
    path: Input,
    output: Annotated[Path, typer.Option("-o", "--output", help="Per-sample table (.csv).")],
    mode: Annotated[
        str, typer.Option(help="spatial (cells or Visium-like spots with coordinates) or expression (bulk/pseudobulk).")
    ],
    library_key: Annotated[
        str | None, typer.Option(help="obs column of samples (cells of one tumour, field or core).")
    ] = None,
    cell_type_key: Annotated[str | None, typer.Option(help="obs column of cell types (spatial).")] = None,
    tumor_labels: Annotated[str | None, typer.Option(help="Comma-separated tumour cell types.")] = None,
    immune_labels: Annotated[str | None, typer.Option(help="Comma-separated immune cell types.")] = None,
    cd8_labels: Annotated[str | None, typer.Option(help="Comma-separated CD8 T cell types.")] = None,
    t_labels: Annotated[str | None, typer.Option(help="Comma-separated CD3+ T cell types (immunoscore).")] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            help="Rule sets, comma-separated (spatial, e.g. cd8_density,patterns4,til_pdl1; expression: til_pdl1)."
        ),
    ] = None,
    pdl1_key: Annotated[
        str | None, typer.Option(help="PD-L1 status: obs column (boolean or values) or channel / gene of X (til_pdl1).")
    ] = None,
    pdl1_labels: Annotated[
        str | None, typer.Option(help="Instead of --pdl1-key: comma-separated PD-L1+ cell types (til_pdl1_ic).")
    ] = None,
    pdl1_threshold: Annotated[
        float | None, typer.Option(help="PD-L1 positivity cut for continuous intensities.")
    ] = None,
    immunoscore_reference: Annotated[
        Path | None, typer.Option(help="CSV of reference densities CD3_CT, CD3_IM, CD8_CT, CD8_IM (immunoscore).")
    ] = None,
    cohort_relative: Annotated[
        bool, typer.Option(help="Immunoscore percentiles within this file's samples instead of a reference.")
    ] = False,
    annotate_cells: Annotated[
        bool,
        typer.Option("--annotate", help="Type the cells from markers first (tk.tl.annotate); default labels follow."),
    ] = False,
    microns_per_unit: Annotated[
        float | None, typer.Option(help="Micrometres per coordinate unit (checked; spots: from their scale).")
    ] = None,
    scale: Annotated[str, typer.Option(help="Expression scale: auto, zscore, log2, counts or cohort.")] = "auto",
    layer: Annotated[
        str | None, typer.Option(help="Layer with expression or raw counts (expression; spot deconvolution).")
    ] = None,
    h5ad: Annotated[
        Path | None, typer.Option(help="Also write the input with the calls added (.zarr for a SpatialData input).")
    ] = None,
    key_added: Annotated[str, typer.Option(help="uns/obs key for the calls.")] = PHENOTYPE_KEY,
    table_key: TableKey = None,
    coordinate_system: CoordinateSystem = None,
    overwrite: Overwrite = False,
    force: Force = False,
) -> None:
    """Call each sample under one or more frameworks and write the evidence table.

    Frameworks: inflamed / excluded / desert, Immunoscore, TIL x PD-L1, four patterns, intratumoral vs stromal.
    """
    with user_errors():
        if pdl1_labels and (pdl1_key or pdl1_threshold is not None):
            msg = (
                f"Give --pdl1-key (a column or channel of PD-L1 status, with --pdl1-threshold if continuous) or "
                f"--pdl1-labels (PD-L1+ cell types of --cell-type-key), not both; got --pdl1-labels {pdl1_labels!r} "
                f"with --pdl1-{'key ' + repr(pdl1_key) if pdl1_key else 'threshold'}."
            )
            raise ValueError(msg)
        new_outputs(output, h5ad, inputs=[path], force=force)
        data = read(path)
        same_kind(data, h5ad)
        where = {"table_key": table_key}
        before = snapshot(cells(data, table_key))
        given = {"key": cell_type_key, "tumor": split(tumor_labels), "immune": split(immune_labels),
                 "cd8": split(cd8_labels), "t": split(t_labels), "pdl1": split(pdl1_labels) or pdl1_key,
                 "pdl1_threshold": pdl1_threshold}  # fmt: skip
        if annotate_cells:  # marker-based types; annotate declares its labels, yours win
            if cell_type_key is not None:
                msg = "Give --annotate (tmekit types the cells) or --cell-type-key (your types), not both."
                raise ValueError(msg)
            with progress("annotating cells"), collect_tmekit_warnings() as caught:
                tk.tl.annotate(data, overwrite=overwrite, library_key=library_key, **where)
            show(caught)
            given = {**tk.tl.annotation_labels(cells(data, table_key)), **{k: v for k, v in given.items() if v}}
        override = {k: v for k, v in given.items() if v is not None} or None
        spatial = {"rules": rules, "cell_types": override, "microns_per_unit": microns_per_unit,
                   "immunoscore_reference": immunoscore_reference, "cohort_relative": cohort_relative,
                   "coordinate_system": coordinate_system}  # fmt: skip
        if mode not in {"spatial", "expression"}:
            msg = f"Unknown --mode {mode!r}: use spatial (cells or spots with positions) or expression (bulk)."
            raise ValueError(msg)
        if mode == "expression":
            flags = {"key": "cell_type_key", "tumor": "tumor_labels", "immune": "immune_labels", "cd8": "cd8_labels",
                     "t": "t_labels", "pdl1": "pdl1_labels" if pdl1_labels else "pdl1_key"}  # fmt: skip
            chosen = {**given, **spatial}
            ignored = sorted("--" + flags.get(k, k).replace("_", "-") for k, v in chosen.items()
                             if v and k not in {"rules", "coordinate_system", "cell_types"})  # fmt: skip
            if ignored:
                msg = f"{ignored} apply to --mode spatial only and would be ignored with --mode expression: drop them."
                raise ValueError(msg)
        elif scale != "auto":
            msg = "--scale applies to --mode expression only and would be ignored with --mode spatial: drop it."
            raise ValueError(msg)
        with progress(f"classifying ({mode})"), collect_tmekit_warnings() as caught:
            if mode == "spatial":
                tk.tl.classify(data, library_key=library_key, layer=layer, key_added=key_added, overwrite=overwrite,
                               **where, **spatial)  # type: ignore[arg-type]  # fmt: skip
            else:
                tk.tl.classify_expression(data, rules=rules, scale=scale, library_key=library_key, layer=layer,
                                          key_added=key_added, overwrite=overwrite, **where)  # type: ignore[arg-type]  # fmt: skip
        show(caught)
        table = tk.get.phenotypes(data, key=key_added, **where)
        writers = {output: text_writer(table.to_csv())}
        if h5ad is not None:
            writers[h5ad] = object_writer(path, data, before)
        tk.io.atomic_write_many(writers, overwrite=force, inputs=[path])  # the table and the object, or neither
        names = str(table["rules"].iloc[0]).split(",") if mode == "spatial" and "rules" in table else [""]
        for name in names:
            column = f"phenotype_{name}" if name and f"phenotype_{name}" in table else "phenotype"
            counts = table[column].astype(str).value_counts().to_dict()
            say(f"{len(table)} samples{f' ({name})' if name else ''}: {counts} -> {output}")


# ------------------------------------------------------------------------------------ report / demo
@app.command()
def report(
    paths: Annotated[
        list[Path], typer.Argument(help="One or more .h5ad files or .zarr stores (after score and/or classify).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")],
    groupby: Annotated[str | None, typer.Option(help="obs column to group cell scores by.")] = None,
    title: Annotated[str, typer.Option(help="Page title.")] = "tmekit cohort report",
    table: Annotated[Path | None, typer.Option(help="Also write every sample's call in one CSV.")] = None,
    clinical: Annotated[
        Path | None, typer.Option(help="Clinical CSV: adds 'Association with outcome' (see `tmekit associate`).")
    ] = None,
    response: Annotated[str | None, typer.Option(help="With --clinical: column of the binary outcome.")] = None,
    positive: Annotated[str | None, typer.Option(help="With --clinical: values of --response that respond.")] = None,
    duration: Annotated[str | None, typer.Option(help="With --clinical: column of follow-up time.")] = None,
    event: Annotated[str | None, typer.Option(help="With --clinical: column of events (1) and censoring (0).")] = None,
    id_key: Annotated[str | None, typer.Option(help="With --clinical: its column of sample or patient ids.")] = None,
    patient_key: Annotated[str | None, typer.Option(help="With --clinical: obs column of patients.")] = None,
    force: Force = False,
) -> None:
    """One self-contained HTML report for a cohort of files (or one multi-sample file)."""
    with user_errors():
        outcome = Outcome(response=response, positive=positive, duration=duration, event=event, id_key=id_key,
                          patient_key=patient_key)  # fmt: skip
        if clinical is None and any(v is not None for v in (response, positive, duration, event, id_key, patient_key)):
            msg = "--response / --duration / --event / --id-key / --patient-key describe --clinical: give it too."
            raise ValueError(msg)
        new_outputs(output, table, inputs=[*paths, *([clinical] if clinical else [])], force=force)
        for i, p in enumerate(paths):
            same = next((q for q in paths[:i] if q.exists() and p.exists() and q.resolve() == p.resolve()), None)
            if same is not None:
                msg = (
                    f"{str(p)!r} names the same file as {str(same)!r}: every table and figure of the report would "
                    "count its samples twice. Give each file once."
                )
                raise ValueError(msg)
        objects = {}
        stems = [p.stem for p in paths]
        # files named alike (e.g. a workflow's <sample>/called.h5ad) are named after their folder
        names = [p.parent.name if stems.count(p.stem) > 1 else p.stem for p in paths]
        if len(set(names)) < len(names):
            names = [f"{n}_{i + 1}" for i, n in enumerate(names)]
        with progress("reading") as update:
            for name, p in zip(names, paths, strict=True):
                update(f"reading {p.name}")
                objects[name] = read(p)
        if clinical is not None:  # the report draws the result from the first file's object (in memory only)
            outcome.run(objects, clinical, store_in=cells(next(iter(objects.values())), None))
        with progress("drawing the report"):
            page = tk.report.html(objects, title=title, groupby=groupby)
            writers = {output: text_writer(page)}
        if table is not None:
            writers[table] = text_writer(tk.report.cohort_table(objects).to_csv())
        tk.io.atomic_write_many(writers, overwrite=force, inputs=paths)
        if table is not None:
            say(f"cohort table: {table.resolve()}")
        say(f"report: {output.resolve()}")


@app.command()
def demo(
    outdir: Annotated[Path, typer.Option("-o", "--outdir", help="Folder for the report and tables.")] = Path(
        "tmekit-demo"
    ),
    export: Annotated[
        Path | None,
        typer.Option(help="Instead: write the bundled datasets, a sample sheet and a config for the workflow here."),
    ] = None,
    force: Force = False,
) -> None:
    """Run the main job end to end on real data shipped in the package and write an HTML report."""
    from tmekit._demo import export_demo_data, run_demo

    with user_errors():
        if export is not None:
            config = export_demo_data(export, force=force)
            say(f"Wrote the bundled datasets and {config}. Run the cohort workflow on them with:")
            say(f"  snakemake --snakefile workflows/Snakefile --configfile {config} --cores 2")
            return
        path = run_demo(outdir, force=force, progress=progress, say=say)
        out.print(f"Report written to {path.resolve()}")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="tmekit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
