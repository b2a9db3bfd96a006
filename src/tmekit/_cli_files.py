"""The command line's files: .h5ad or SpatialData .zarr in; outputs checked first; input plus results written.

Outputs are checked before any work; the input plus the results is written atomically (an .h5ad without loading
X, or a new store).
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import anndata as ad
import h5py

import tmekit as tk
from tmekit._spatialdata import is_spatialdata, table_name

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from anndata import AnnData
    from spatialdata import SpatialData

__all__ = ["added", "cells", "new_outputs", "object_writer", "read", "same_kind", "snapshot", "text_writer"]


def new_outputs(*paths: Path | None, inputs: Sequence[Path], force: bool) -> None:
    """Check every output before any work: writable, not an input, not existing unless --force, all distinct."""
    given = [p for p in paths if p is not None]
    for i, path in enumerate(given):
        tk.io.check_output_path(path, overwrite=force, how_to_replace="Pass --force", inputs=inputs)
        folder = next((f for f in inputs if f.is_dir() and path.resolve().is_relative_to(f.resolve())), None)
        if folder is not None:
            msg = f"Refusing to write {str(path)!r} inside the input store {str(folder)!r}. Choose a path outside it."
            raise ValueError(msg)
        if any(path.resolve() == other.resolve() for other in given[:i]):
            msg = f"Two outputs name the same file {str(path)!r}: give each output its own path."
            raise ValueError(msg)


def snapshot(adata: AnnData) -> dict[str, dict[str, object]]:
    """The obsm and uns entries of ``adata`` now (the objects, to tell later which ones a call wrote)."""
    return {slot: dict(getattr(adata, slot).items()) for slot in ("obsm", "uns")}


def added(adata: AnnData, before: dict[str, dict[str, object]]) -> dict[str, list[str]]:
    """The obsm and uns keys a call wrote since ``before`` (new keys and replaced values)."""
    return {
        slot: [k for k, v in getattr(adata, slot).items() if k not in before[slot] or before[slot][k] is not v]
        for slot in ("obsm", "uns")
    }


def read(path: Path) -> AnnData | SpatialData:
    """An .h5ad file (backed: X stays on disk) or a SpatialData .zarr store."""
    return tk.io.read(path, backed="r")


def cells(data: AnnData | SpatialData, table_key: str | None) -> AnnData:
    """The AnnData the results go into: the object itself, or the SpatialData's table."""
    return data.tables[table_name(data, table_key)] if is_spatialdata(data) else data


def same_kind(data: AnnData | SpatialData, *outputs: Path | None) -> None:
    """SpatialData in, .zarr out; .h5ad in, .h5ad out."""
    want = ".zarr" if is_spatialdata(data) else ".h5ad"
    for path in (p for p in outputs if p is not None):
        if path.suffix.lower() != want:
            what = "a SpatialData store" if want == ".zarr" else "an .h5ad file"
            msg = f"The input is {what}, so the object output must be one too: give {str(path)!r} a {want} name."
            raise ValueError(msg)


def object_writer(
    source: Path, data: AnnData | SpatialData, before: dict[str, dict[str, object]]
) -> Callable[[Path], None]:
    """A writer of the input with the results: the whole SpatialData as a new store, or the .h5ad plus results."""
    if not is_spatialdata(data):
        return _results_writer(source, data, added(data, before))
    return tk.io.store_writer(data)


def text_writer(text: str) -> Callable[[Path], None]:
    return lambda tmp: tmp.write_text(text, encoding="utf-8")


def _results_writer(source: Path, adata: AnnData, keys: dict[str, list[str]]) -> Callable[[Path], None]:
    """A writer that copies ``source`` and adds the new obs columns / obsm / uns entries, never loading X."""

    def write(tmp: Path) -> None:
        shutil.copyfile(source, tmp)
        with h5py.File(tmp, "r+") as f:
            elements = [(f, "obs", adata.obs)]
            elements += [(f.require_group("obsm"), key, adata.obsm[key]) for key in keys.get("obsm", [])]
            elements += [(f.require_group("uns"), key, adata.uns[key]) for key in keys.get("uns", [])]
            for group, key, value in elements:
                if key in group:
                    del group[key]
                ad.io.write_elem(group, key, value)

    return write
