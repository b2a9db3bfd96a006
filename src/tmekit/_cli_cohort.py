"""``tmekit associate``: a cohort's features against response or survival, from the command line.

The same steps as the API (:func:`tmekit.get.cohort_features`, then :func:`tmekit.tl.associate`) on one or more
result files; ``tmekit report --clinical`` runs them too and adds the "Association with outcome" section.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

import tmekit as tk
from tmekit._cli_app import Force, app, progress, say, show, split, user_errors
from tmekit._cli_files import cells, new_outputs, read, text_writer
from tmekit._warnings import collect_tmekit_warnings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anndata import AnnData
    from spatialdata import SpatialData

__all__ = ["Outcome", "associate"]

Clinical = Annotated[Path, typer.Option(help="CSV with one row per sample or patient (ids, outcomes, covariates).")]


@dataclass(frozen=True)
class Outcome:
    """The outcome options shared by ``tmekit associate`` and ``tmekit report --clinical`` (as typed)."""

    response: str | None = None
    positive: str | None = None
    duration: str | None = None
    event: str | None = None
    id_key: str | None = None
    library_key: str | None = None
    patient_key: str | None = None
    weight: str = "cells"
    covariates: str | None = None
    min_group: int = 5
    n_boot: int = 1000

    def features(self, objects: Mapping[str, AnnData | SpatialData]) -> pd.DataFrame:
        """Every file's cohort features in one table (a sample or patient in two files is refused)."""
        parts, where = [], {}
        for name, data in objects.items():
            part = tk.get.cohort_features(cells(data, None), library_key=self.library_key,
                                          patient_key=self.patient_key, weight=self.weight)  # fmt: skip
            for row in part.index.astype(str):
                if row in where:
                    msg = (
                        f"{row!r} has rows in {where[row]!r} and {name!r}: a sample (or, with --patient-key, a "
                        "patient's samples) must be in one file. Merge the files first."
                    )
                    raise ValueError(msg)
                where[row] = name
            parts.append(part.set_axis(part.index.astype(str)))
        features = pd.concat(parts, axis=0, sort=False)
        features.index.name = parts[0].index.name
        return features

    def run(
        self, objects: Mapping[str, AnnData | SpatialData], clinical: Path, *, store_in: AnnData | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The cohort features and their association table, showing the tmekit warnings (id matching) it raised.

        ``store_in``: an object (in memory) to keep the result in, for the report to draw.
        """
        if self.response is None and (self.duration is None or self.event is None):
            msg = "Give --response (a binary outcome column) or --duration and --event (survival), or both."
            raise ValueError(msg)
        with progress("testing features against the outcome"), collect_tmekit_warnings() as caught:
            features = self.features(objects)
            table = tk.tl.associate(
                features, clinical, id_key=self.id_key, response=self.response, positive=split(self.positive),
                duration=self.duration, event=self.event, covariates=split(self.covariates),
                min_group=self.min_group, n_boot=self.n_boot, adata=store_in, overwrite=True,
            )  # fmt: skip
        show(caught)
        ids = table.attrs.get("ids", {})
        ok, strong = int((table["status"] == "ok").sum()), int((table["q"] < 0.05).sum())
        say(f"{ids.get('matched', '?')} ids matched the clinical table: {len(table)} tests, {ok} determinate, "
            f"{strong} with q < 0.05")  # fmt: skip
        return features, table


@app.command()
def associate(
    paths: Annotated[list[Path], typer.Argument(help="Result files (.h5ad / .zarr) after classify and/or score.")],
    clinical: Clinical,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV of the tests (one row per feature x test).")],
    response: Annotated[str | None, typer.Option(help="Clinical column of the binary outcome.")] = None,
    positive: Annotated[
        str | None, typer.Option(help="Comma-separated values of --response that count as response.")
    ] = None,
    duration: Annotated[str | None, typer.Option(help="Clinical column of follow-up time (survival).")] = None,
    event: Annotated[
        str | None, typer.Option(help="Clinical column: 1 = event (death, progression), 0 = censored.")
    ] = None,
    id_key: Annotated[str | None, typer.Option(help="Clinical column of the sample or patient ids.")] = None,
    library_key: Annotated[
        str | None, typer.Option(help="obs column of samples (default: the one classify used).")
    ] = None,
    patient_key: Annotated[
        str | None, typer.Option(help="obs column of patients: one row per patient (never pooled cells).")
    ] = None,
    weight: Annotated[str, typer.Option(help="Weights of a patient's samples: cells, equal or area.")] = "cells",
    covariates: Annotated[
        str | None, typer.Option(help="Comma-separated clinical columns to adjust the Cox models for.")
    ] = None,
    min_group: Annotated[int, typer.Option(help="Smallest group (responders, non-responders, a level) tested.")] = 5,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates of the AUC's 95% CI.")] = 1000,
    features: Annotated[Path | None, typer.Option(help="Also write the cohort's feature table (CSV).")] = None,
    force: Force = False,
) -> None:
    """Test each cohort feature (scores, calls, evidence, T-cell states) against response and/or survival."""
    with user_errors():
        new_outputs(output, features, inputs=[*paths, clinical], force=force)
        resolved = [p.resolve() for p in paths]
        if len(set(resolved)) < len(resolved):
            msg = "A file is given more than once: its samples would be counted twice. Give each file once."
            raise ValueError(msg)
        objects = {p.stem if [q.stem for q in paths].count(p.stem) == 1 else str(p): read(p) for p in paths}
        outcome = Outcome(response=response, positive=positive, duration=duration, event=event, id_key=id_key,
                          library_key=library_key, patient_key=patient_key, weight=weight, covariates=covariates,
                          min_group=min_group, n_boot=n_boot)  # fmt: skip
        cohort, table = outcome.run(objects, clinical)
        writers = {output: text_writer(table.to_csv(index=False))}
        if features is not None:
            writers[features] = text_writer(cohort.to_csv())
        tk.io.atomic_write_many(writers, overwrite=force, inputs=[*paths, clinical])
        say(f"tests: {output.resolve()}" + (f"; features: {features.resolve()}" if features is not None else ""))
