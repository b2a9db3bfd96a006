"""One positivity rule for per-cell markers (PD-L1 today): booleans, binarised values, counts, intensities."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tmekit._markers import marker_status


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
