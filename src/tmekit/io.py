"""Reading and writing: h5ad validation with clear errors, atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import h5py

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from anndata import AnnData

__all__ = ["atomic_write", "atomic_write_text", "check_output_path", "read_h5ad", "write_h5ad"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def check_output_path(path: str | Path, *, overwrite: bool, how_to_replace: str = "Pass `overwrite=True`") -> Path:
    """Raise a clear error unless ``path`` can be written: its folder exists and, unless ``overwrite``, it does not."""
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{str(path)!r} already exists. {how_to_replace} to replace it, or choose another path."
        raise FileExistsError(msg)
    if not path.parent.is_dir():
        msg = f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist. Create it first."
        raise FileNotFoundError(msg)
    return path


def _read_umask() -> int:
    # os.umask can only be read by setting it: done once, at import, not per write (another thread could
    # create a file in the window where the mask is 0).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def _atomic_target(path: Path, *, overwrite: bool) -> Generator[Path, None, None]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else remove it."""
    path = check_output_path(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp makes the file private (0600); the result gets normal permissions
    try:
        yield tmp_path
        tmp_path.replace(path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, *, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with _atomic_target(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write(path: Path, writer: Callable[[Path], object], *, overwrite: bool = False) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` only if it succeeded."""
    with _atomic_target(path, overwrite=overwrite) as tmp:
        writer(tmp)
    return Path(path)


def _check_h5ad_path(path: Path) -> None:
    if not path.exists():
        msg = f"File {str(path)!r} does not exist. Check the path (relative paths start at {Path.cwd()})."
        raise FileNotFoundError(msg)
    if path.is_dir():
        if (path / ".zattrs").exists() or (path / "zarr.json").exists() or (path / ".zgroup").exists():
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
    with h5py.File(path, "r") as fh:
        keys = set(fh.keys())
    if not {"obs", "var"} <= keys:
        hint = " It looks like a 10x Genomics .h5: read it with `scanpy.read_10x_h5(path)`." if "matrix" in keys else ""
        msg = (
            f"{str(path)!r} is an HDF5 file but not an AnnData .h5ad (top-level groups: {sorted(keys)[:6]}; "
            f"an .h5ad has 'obs' and 'var').{hint}"
        )
        raise ValueError(msg)


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
    The AnnData object (as :func:`anndata.read_h5ad` returns it).
    """
    import anndata as ad

    path = Path(path)
    _check_h5ad_path(path)
    try:
        return ad.read_h5ad(path, backed=backed)
    except (OSError, KeyError, TypeError) as err:
        msg = (
            f"{str(path)!r} is an HDF5 file but not a readable AnnData .h5ad ({type(err).__name__}: {err}). "
            "Was it written by anndata (`adata.write_h5ad`)? Other HDF5 layouts (10x .h5, loom) have their own "
            "readers: `scanpy.read_10x_h5`, `scanpy.read_loom`."
        )
        raise ValueError(msg) from err


def write_h5ad(adata: AnnData, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``adata`` to ``path`` atomically: a failed write never leaves a half-written file."""
    return atomic_write(Path(path), lambda tmp: adata.write_h5ad(tmp), overwrite=overwrite)
