"""Reading and writing: h5ad validation with clear errors, atomic writes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import h5py

from tmekit._atomic import atomic_targets, check_output_path

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from anndata import AnnData
    from spatialdata import SpatialData

__all__ = [
    "atomic_write",
    "atomic_write_many",
    "atomic_write_text",
    "check_output_path",
    "is_spatialdata_store",
    "read",
    "read_h5ad",
    "read_spatialdata",
    "store_writer",
    "write",
    "write_h5ad",
    "write_spatialdata",
]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def atomic_write_text(path: Path, text: str, *, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    path
        The file to write.
    text
        Its content (UTF-8).
    overwrite
        Replace an existing file.

    Returns
    -------
    ``path``.

    Examples
    --------
    >>> tk.io.atomic_write_text("notes.txt", "scored with tmekit")
    PosixPath('notes.txt')
    """
    with atomic_targets([Path(path)], overwrite=overwrite) as (tmp,):
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write(
    path: Path, writer: Callable[[Path], object], *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` only if it succeeded (never onto an input).

    ``tmp_path`` is an empty file; a writer of a folder (a zarr store) deletes it and makes the folder there.

    Parameters
    ----------
    path
        The file (or store) to write.
    writer
        Called once with the temporary path; what it writes there becomes ``path``.
    overwrite
        Replace an existing ``path``.
    inputs
        Files that may never be written (the data being read), even with ``overwrite``.

    Returns
    -------
    ``path``.

    Examples
    --------
    >>> from pathlib import Path
    >>> table = pd.DataFrame({"phenotype": ["inflamed"]}, index=["patient_1"])
    >>> tk.io.atomic_write(Path("calls.csv"), table.to_csv)
    PosixPath('calls.csv')
    """
    with atomic_targets([Path(path)], overwrite=overwrite, inputs=inputs) as (tmp,):
        writer(tmp)
    return Path(path)


def atomic_write_many(
    writers: Mapping[str | Path, Callable[[Path], object]],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> list[Path]:
    """Write several files as one: every ``writer(tmp_path)`` runs first, then all are renamed; on any failure, none.

    For commands whose outputs belong together (a table and the object it came from): a user never finds one
    without the other. No output may be one of ``inputs`` or name the same file as another output.

    Parameters
    ----------
    writers
        ``{path: writer}``; each writer is called with its temporary path.
    overwrite
        Replace existing outputs.
    inputs
        Files that may never be written.

    Returns
    -------
    The paths written, in the order given.

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, library_key="patient_id", microns_per_unit=800 / 2048)
    >>> writers = {"calls.csv": tk.get.phenotypes(adata).to_csv, "called.h5ad": adata.write_h5ad}
    >>> [p.name for p in tk.io.atomic_write_many(writers)]
    ['calls.csv', 'called.h5ad']
    """
    paths = [Path(p) for p in writers]
    with atomic_targets(paths, overwrite=overwrite, inputs=inputs) as temporaries:
        for tmp, writer in zip(temporaries, writers.values(), strict=True):
            writer(tmp)
    return paths


def _check_h5ad_path(path: Path) -> None:
    if not path.exists():
        msg = f"File {str(path)!r} does not exist. Check the path (relative paths start at {Path.cwd()})."
        raise FileNotFoundError(msg)
    if path.is_dir():
        if is_spatialdata_store(path):
            msg = f"{str(path)!r} is a SpatialData zarr store, not an .h5ad file. Read it with `tk.io.read(path)`."
        elif (path / ".zattrs").exists() or (path / "zarr.json").exists() or (path / ".zgroup").exists():
            msg = f"{str(path)!r} is a zarr store, not an .h5ad file. Read it with `anndata.read_zarr(path)`."
        else:
            msg = f"{str(path)!r} is a folder, not an .h5ad file. Pass the path of an .h5ad file."
        raise IsADirectoryError(msg)
    with path.open("rb") as fh:
        head = fh.read(len(_HDF5_MAGIC))
    if head != _HDF5_MAGIC:
        hint = {
            b"PK": " It looks like a zip archive (a .zarr.zip or a compressed download): unpack it first.",
            b"\x1f\x8b": " It is gzip-compressed: decompress it first (`gunzip`).",
        }.get(head[:2], "")
        if path.suffix.lower() in {".csv", ".tsv", ".txt"} or (head[:1].isascii() and head.isascii()):
            hint = hint or " It looks like a text file: load tables with pandas and build an AnnData first."
        msg = (
            f"{str(path)!r} is not an .h5ad file (it is not HDF5).{hint} "
            "tmekit reads AnnData .h5ad files, e.g. written by `adata.write_h5ad(path)`."
        )
        raise ValueError(msg)
    try:
        with h5py.File(path, "r") as fh:
            keys = set(fh.keys())
    except OSError as err:
        raise ValueError(_damaged(path, err)) from err
    if not {"obs", "var"} <= keys:
        hint = " It looks like a 10x Genomics .h5: read it with `scanpy.read_10x_h5(path)`." if "matrix" in keys else ""
        msg = (
            f"{str(path)!r} is an HDF5 file but not an AnnData .h5ad (top-level groups: {sorted(keys)[:6]}; "
            f"an .h5ad has 'obs' and 'var').{hint}"
        )
        raise ValueError(msg)


def _damaged(path: Path, err: BaseException) -> str:
    found = re.search(r"eof = (\d+).*stored_eof = (\d+)", str(err))
    if found:
        have, want = (int(v) for v in found.groups())
        what = f"it is truncated: {have:,} of its {want:,} bytes are there (an interrupted copy or download?)"
    else:
        what = f"HDF5 cannot read it ({err})"
    return f"{str(path)!r} is damaged: {what}. Copy or write the file again; nothing was read from it."


def read_h5ad(path: str | Path, *, backed: Literal["r", "r+"] | None = None) -> AnnData:
    """Read an .h5ad file, with clear errors for a missing file or one that is not h5ad.

    Parameters
    ----------
    path
        The ``.h5ad`` file.
    backed
        ``"r"`` keeps ``X`` on disk (read in chunks by tmekit); ``None`` loads it into memory.

    Returns
    -------
    The AnnData object (as ``anndata.io.read_h5ad`` returns it).

    Examples
    --------
    >>> _ = tk.io.write_h5ad(tk.datasets.keren2018_mibi(), "keren.h5ad")
    >>> tk.io.read_h5ad("keren.h5ad").n_obs
    21153
    """
    import anndata as ad

    path = Path(path)
    _check_h5ad_path(path)
    with h5py.File(path, "r") as fh:
        has_x = "X" in fh
    try:
        # anndata cannot open a file without X backed; such files (positions and cell types only) are small
        return ad.read_h5ad(path, backed=backed if has_x else None)
    except (OSError, KeyError, TypeError) as err:
        if "truncated" in str(err) or "corrupt" in str(err).lower():
            raise ValueError(_damaged(path, err)) from err
        msg = (
            f"{str(path)!r} is an HDF5 file but not a readable AnnData .h5ad ({type(err).__name__}: {err}). "
            "Was it written by anndata (`adata.write_h5ad`)? Other HDF5 layouts (10x .h5, loom) have their own "
            "readers: `scanpy.read_10x_h5`, `scanpy.read_loom`."
        )
        raise ValueError(msg) from err


def _with_suffix(path: Path, suffix: str, what: str) -> Path:
    """``path`` if its name ends in ``suffix``; else the error that says what the file would be and how to fix it."""
    if path.suffix.lower() == suffix:
        return path
    fmt = "an .h5ad file (HDF5)" if suffix == ".h5ad" else "a .zarr store (a folder)"
    msg = (
        f"Refusing to write {what} to {str(path)!r}: it is written as {fmt}, and a name ending in "
        f"{path.suffix or '(no suffix)'!r} would hide that from whoever reads it. Name it {path.stem}{suffix}"
        f"{' (an AnnData goes to .h5ad, a SpatialData to .zarr)' if path.suffix.lower() in {'.h5ad', '.zarr'} else ''}."
    )
    raise ValueError(msg)


def write_h5ad(adata: AnnData, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``adata`` to ``path`` atomically: a failed write never leaves a half-written file.

    A backed object cannot be written onto the file it is read from; written elsewhere it is then backed by
    the new file, as after ``adata.write_h5ad(path)`` in anndata (and stays usable).

    Parameters
    ----------
    adata
        The object to write (in memory or backed).
    path
        A path ending in ``.h5ad``.
    overwrite
        Replace an existing file (never the one a backed ``adata`` is read from).

    Returns
    -------
    ``path``.

    Examples
    --------
    >>> tk.io.write_h5ad(tk.datasets.keren2018_mibi(), "keren.h5ad")
    PosixPath('keren.h5ad')
    """
    path = _with_suffix(Path(path), ".h5ad", "an AnnData")
    backing = [adata.filename] if adata.isbacked else []
    atomic_write(path, lambda tmp: adata.write_h5ad(tmp), overwrite=overwrite, inputs=backing)
    if adata.isbacked and not adata.is_view:
        adata.file.filename = path  # anndata pointed the object at the temporary file, now renamed to `path`
    return path


# ------------------------------------------------------------------------------------------ SpatialData stores
_ELEMENT_FOLDERS = {"images", "labels", "points", "shapes", "tables"}


def is_spatialdata_store(path: str | Path) -> bool:
    """Whether ``path`` is a SpatialData zarr store (a zarr group with images/labels/points/shapes/tables).

    Parameters
    ----------
    path
        Any path.

    Returns
    -------
    ``True`` for a folder that is a zarr group with at least one SpatialData element folder.

    Examples
    --------
    >>> import spatialdata as sd
    >>> _ = tk.io.write(sd.SpatialData(tables={"table": tk.datasets.keren2018_mibi()}), "cells.zarr")
    >>> tk.io.is_spatialdata_store("cells.zarr"), tk.io.is_spatialdata_store("elsewhere.zarr")
    (True, False)
    """
    path = Path(path)
    if not path.is_dir() or not any((path / name).exists() for name in ("zarr.json", ".zgroup", ".zattrs")):
        return False
    return any((path / name).is_dir() for name in _ELEMENT_FOLDERS)


def read_spatialdata(path: str | Path) -> SpatialData:
    """Read a SpatialData ``.zarr`` store (:func:`spatialdata.read_zarr`), with clear errors for other paths.

    Images and labels stay on disk (dask); tables are read into memory, as spatialdata does.

    Parameters
    ----------
    path
        A SpatialData ``.zarr`` store.

    Returns
    -------
    The ``spatialdata.SpatialData``, backed by the store.

    Examples
    --------
    >>> import spatialdata as sd
    >>> _ = tk.io.write(sd.SpatialData(tables={"table": tk.datasets.keren2018_mibi()}), "cells.zarr")
    >>> list(tk.io.read_spatialdata("cells.zarr").tables)
    ['table']
    """
    import spatialdata as sd

    path = Path(path)
    if not path.exists():
        msg = f"{str(path)!r} does not exist. Check the path (relative paths start at {Path.cwd()})."
        raise FileNotFoundError(msg)
    if not is_spatialdata_store(path):
        hint = " It is an .h5ad file: read it with `tk.io.read_h5ad(path)`." if path.is_file() else ""
        msg = (
            f"{str(path)!r} is not a SpatialData zarr store (a folder with zarr.json and images/labels/points/"
            f"shapes/tables).{hint} spatialdata-io reads Xenium, CosMx, MERSCOPE and Visium HD exports into one."
        )
        raise ValueError(msg)
    return sd.read_zarr(path)


def _inside(child: Path, parent: Path) -> bool:
    return parent.is_dir() and child.resolve().is_relative_to(parent.resolve())


def write_spatialdata(sdata: SpatialData, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``sdata`` to a new ``.zarr`` store atomically (a temporary store beside ``path``, then renamed).

    Never onto (or inside) the store ``sdata`` is read from: write the results elsewhere. ``sdata`` stays backed
    by its own store.

    Parameters
    ----------
    sdata
        The ``spatialdata.SpatialData`` to write.
    path
        A path ending in ``.zarr``.
    overwrite
        Replace an existing store (never the one ``sdata`` is read from).

    Returns
    -------
    ``path``.

    Examples
    --------
    >>> import spatialdata as sd
    >>> sdata = sd.SpatialData(tables={"table": tk.datasets.keren2018_mibi()})
    >>> tk.io.write_spatialdata(sdata, "cells.zarr")
    PosixPath('cells.zarr')
    """
    path = _with_suffix(Path(path), ".zarr", "a SpatialData")
    source = Path(sdata.path) if sdata.path is not None else None
    if source is not None and (_inside(path, source) or _inside(source, path)):
        msg = (
            f"Refusing to write {str(path)!r}: the SpatialData is read from {str(source)!r}, which would be changed "
            "or lost (even with overwrite/--force). Choose a path outside it."
        )
        raise ValueError(msg)

    return atomic_write(path, store_writer(sdata), overwrite=overwrite, inputs=[source] if source is not None else [])


def store_writer(sdata: SpatialData) -> Callable[[Path], None]:
    """A writer (for :func:`atomic_write`) of ``sdata`` as a new store at the temporary path.

    Tables are written unsharded, as anndata does today (said explicitly: anndata warns that its default changes).
    ``sdata`` is pointed at the new store while it is written and back at its own afterwards: spatialdata 0.7
    consolidates the metadata of ``sdata.path``, so with ``update_sdata_path=False`` it would write into the store
    the data was read from.

    Parameters
    ----------
    sdata
        The ``spatialdata.SpatialData`` to write.

    Returns
    -------
    ``writer(tmp_path)``, for :func:`atomic_write` or :func:`atomic_write_many`.

    Examples
    --------
    >>> from pathlib import Path
    >>> import spatialdata as sd
    >>> sdata = sd.SpatialData(tables={"table": tk.datasets.keren2018_mibi()})
    >>> tk.io.atomic_write(Path("cells.zarr"), tk.io.store_writer(sdata))
    PosixPath('cells.zarr')
    """
    import anndata as ad

    def write(tmp: Path) -> None:
        tmp.unlink()
        sharding = {"auto_shard_zarr_v3": False} if hasattr(ad.settings, "auto_shard_zarr_v3") else {}
        own = sdata.path
        try:
            with ad.settings.override(**sharding):
                sdata.write(tmp, update_sdata_path=True)
        finally:
            sdata.path = own

    return write


def read(path: str | Path, *, backed: Literal["r", "r+"] | None = None) -> AnnData | SpatialData:
    """Read an ``.h5ad`` file (:func:`read_h5ad`, ``backed`` as there) or a SpatialData ``.zarr`` store.

    Parameters
    ----------
    path
        An ``.h5ad`` file or a SpatialData ``.zarr`` store.
    backed
        ``.h5ad`` only: ``"r"`` keeps ``X`` on disk.

    Returns
    -------
    An AnnData, or a ``spatialdata.SpatialData`` for a store.

    Examples
    --------
    >>> _ = tk.io.write(tk.datasets.keren2018_mibi(), "keren.h5ad")
    >>> type(tk.io.read("keren.h5ad")).__name__
    'AnnData'
    """
    if is_spatialdata_store(path):
        return read_spatialdata(path)
    return read_h5ad(path, backed=backed)


def write(adata: AnnData | SpatialData, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write an AnnData as ``.h5ad`` or a SpatialData as a ``.zarr`` store, atomically.

    Parameters
    ----------
    adata
        An AnnData (written by :func:`write_h5ad`) or a SpatialData (by :func:`write_spatialdata`).
    path
        Ending in ``.h5ad`` for an AnnData, ``.zarr`` for a SpatialData (another name is refused).
    overwrite
        Replace an existing file or store (never one the data is read from).

    Returns
    -------
    ``path``.

    Examples
    --------
    >>> tk.io.write(tk.datasets.keren2018_mibi(), "keren.h5ad")
    PosixPath('keren.h5ad')
    """
    from tmekit._spatialdata import is_spatialdata

    if is_spatialdata(adata):
        return write_spatialdata(adata, path, overwrite=overwrite)
    return write_h5ad(adata, path, overwrite=overwrite)
