"""`tk.io`: clear errors for files that are not h5ad, atomic writes that never leave half files."""

from __future__ import annotations

import gzip

import anndata as ad
import h5py
import numpy as np
import pytest

import tmekit as tk


@pytest.fixture
def small() -> ad.AnnData:
    return ad.AnnData(np.arange(12, dtype=np.float32).reshape(3, 4))


def test_read_and_write_round_trip(tmp_path, small):
    path = tk.io.write_h5ad(small, tmp_path / "a.h5ad")
    back = tk.io.read_h5ad(path)
    np.testing.assert_array_equal(back.X, small.X)
    backed = tk.io.read_h5ad(path, backed="r")
    assert backed.isbacked
    backed.file.close()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tk.io.read_h5ad(tmp_path / "nope.h5ad")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("table.csv", b"gene,cell1\nCD3D,1\n", "looks like a text file"),
        ("x.h5ad.gz", gzip.compress(b"hello"), "gzip-compressed"),
        ("x.h5ad", b"PK\x03\x04rest", "zip archive"),
        ("x.h5ad", b"\x00\x01\x02\x03\x04\x05\x06\x07\x08", "not HDF5"),
    ],
)
def test_not_an_h5ad(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        tk.io.read_h5ad(path)


def test_hdf5_that_is_not_anndata(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as fh:
        fh["matrix/barcodes"] = np.array([b"a", b"b"])
    with pytest.raises(ValueError, match=r"not an AnnData \.h5ad.*scanpy\.read_10x_h5"):
        tk.io.read_h5ad(path)


def test_folder_and_zarr(tmp_path):
    with pytest.raises(IsADirectoryError, match="folder"):
        tk.io.read_h5ad(tmp_path)
    (tmp_path / "x.zarr").mkdir()
    (tmp_path / "x.zarr" / "zarr.json").write_text("{}")
    with pytest.raises(IsADirectoryError, match="read_zarr"):
        tk.io.read_h5ad(tmp_path / "x.zarr")


def test_write_refuses_to_overwrite_and_is_atomic(tmp_path, small):
    path = tk.io.write_h5ad(small, tmp_path / "a.h5ad")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        tk.io.write_h5ad(small, path)
    small.X[0, 0] = 100
    tk.io.write_h5ad(small, path, overwrite=True)
    assert tk.io.read_h5ad(path).X[0, 0] == 100

    def failing(tmp):
        tmp.write_bytes(b"half a file")
        msg = "disk full"
        raise OSError(msg)

    with pytest.raises(OSError, match="disk full"):
        tk.io.atomic_write(path, failing, overwrite=True)
    assert tk.io.read_h5ad(path).X[0, 0] == 100  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5ad"]  # no temporary left behind
    with pytest.raises(FileNotFoundError, match=r"does not exist\. Create it first"):
        tk.io.write_h5ad(small, tmp_path / "missing_dir" / "b.h5ad")
