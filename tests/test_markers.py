"""One positivity rule for per-cell markers (PD-L1 today): booleans, binarised values, counts, intensities."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tmekit._markers import describe_marker, marker_status


def _cells() -> ad.AnnData:
    counts = sp.csr_matrix(np.array([[0, 3], [1, 0], [2, 0], [0, 0]], dtype=np.float32))
    obs = pd.DataFrame({"flag": pd.array([True, False, pd.NA, True], dtype="boolean"),
                        "binary": [1.0, 0.0, 1.0, np.nan], "intensity": [0.2, 3.1, 0.7, 5.0],
                        "label": ["a", "b", "a", "b"]}, index=[f"c{i}" for i in range(4)])  # fmt: skip
    return ad.AnnData(counts, obs=obs, var=pd.DataFrame(index=["CD274", "CD8A"]))


def test_each_kind_of_value_by_hand():
    cells = _cells()
    np.testing.assert_array_equal(marker_status(cells, "flag"), [1.0, 0.0, np.nan, 1.0])  # <NA> is unknown
    np.testing.assert_array_equal(marker_status(cells, "binary"), [1.0, 0.0, 1.0, np.nan])
    np.testing.assert_array_equal(marker_status(cells, "CD274"), [0.0, 1.0, 1.0, 0.0])  # >= 1 transcript
    np.testing.assert_array_equal(marker_status(cells, "CD274", threshold=2), [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(marker_status(cells, "intensity", threshold=1.0), [0.0, 1.0, 0.0, 1.0])


def test_bad_markers_say_what_to_do():
    cells = _cells()
    with pytest.raises(ValueError, match=r"continuous values.*threshold"):
        marker_status(cells, "intensity", what="PD-L1")
    with pytest.raises(KeyError, match="neither an `obs` column nor a var name"):
        marker_status(cells, "PDL1", what="PD-L1")
    with pytest.raises(ValueError, match="holds labels"):
        marker_status(cells, "label")


def _values(**columns) -> ad.AnnData:
    n = len(next(iter(columns.values())))
    return ad.AnnData(obs=pd.DataFrame(columns, index=[f"c{i}" for i in range(n)]))


def _gene(values: list[float]) -> ad.AnnData:
    """Transcript counts of a gene of X (CD274): the only values read as counts."""
    cells = ad.AnnData(np.asarray(values, dtype=np.float32).reshape(-1, 1))
    cells.var_names = ["CD274"]
    return cells


def test_each_rule_at_its_cut():
    """Counts (a gene of X): positive at the threshold or more; intensities: above it (at it: negative); 0/1 values:
    1; whole numbers in obs are intensities (they need a threshold)."""
    after_one = float(np.nextafter(1.0, np.inf))
    genes = _gene([2.0, 1.0, 0.0, 3.0])
    np.testing.assert_array_equal(marker_status(genes, "CD274"), [1.0, 1.0, 0.0, 1.0])  # 1 count is positive
    np.testing.assert_array_equal(marker_status(genes, "CD274", threshold=2), [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(marker_status(genes, "CD274", threshold=3), [0.0, 0.0, 0.0, 1.0])
    cells = _values(counts=[2.0, 1.0, 0.0, 3.0], intensity=[1.0, after_one, 0.5, 2.5], binary=[1.0, 0.0, np.nan, 1.0],
                    signed=[-1.0, 0.0, 2.0, 1.0])  # fmt: skip
    with pytest.raises(ValueError, match="whole numbers that are not transcript counts"):
        marker_status(cells, "counts")
    np.testing.assert_array_equal(marker_status(cells, "counts", threshold=2), [0.0, 0.0, 0.0, 1.0])  # above 2
    np.testing.assert_array_equal(marker_status(cells, "intensity", threshold=1.0), [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(marker_status(cells, "intensity", threshold=2.5), [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(marker_status(cells, "binary"), [1.0, 0.0, np.nan, 1.0])
    # 0/1 values with a threshold are read on an intensity scale: positive above it
    np.testing.assert_array_equal(marker_status(cells, "binary", threshold=0.5), [1.0, 0.0, np.nan, 1.0])
    np.testing.assert_array_equal(marker_status(cells, "binary", threshold=1), [0.0, 0.0, np.nan, 0.0])
    # negative values are not counts: an intensity scale, positive above the threshold, which must be given
    np.testing.assert_array_equal(marker_status(cells, "signed", threshold=1.0), [0.0, 0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"intensities \(range -1 to 2\).*`threshold=`"):
        marker_status(cells, "signed")
    assert np.isnan(marker_status(_values(unknown=[np.nan, np.nan]), "unknown")).all()


def test_the_rule_in_words_names_the_cut():
    cells = _values(counts=[2.0, 1.0, 0.0], intensity=[1.0, 0.25, 3.5], binary=[1.0, 0.0, 1.0])
    genes = _gene([2.0, 1.0, 0.0])
    assert describe_marker(genes, "CD274") == "X[:, 'CD274'] (gene): positive at >= 1 transcript counts"
    assert describe_marker(genes, "CD274", threshold=2) == "X[:, 'CD274'] (gene): positive at >= 2 transcript counts"
    assert describe_marker(cells, "counts", threshold=2) == "obs['counts']: positive above 2"
    assert describe_marker(cells, "intensity", threshold=1.0) == "obs['intensity']: positive above 1.0"
    assert describe_marker(cells, "binary") == "obs['binary']: 1 positive, 0 negative (binarised)"
    assert describe_marker(_values(flag=[True, False]), "flag") == "obs['flag'] (boolean) as given"
