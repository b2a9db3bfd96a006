"""Clinical tables for association with outcome: read, ids matched to a feature table, which features are levels.

One home for what :func:`tmekit.tl.associate`, the plots of :mod:`tmekit.pl` and the command line share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["clinical_ids", "is_categorical", "match_ids", "read_clinical"]


def clinical_ids(values: pd.Index | pd.Series) -> np.ndarray:
    """Ids as strings; whole numbers read as floats (``1.0``, a CSV column with a gap) as ``"1"``."""
    series = pd.Series(np.asarray(values, dtype=object))
    numeric = pd.to_numeric(series, errors="coerce")
    whole = numeric.notna() & series.notna() & np.isclose(numeric.fillna(0.5) % 1, 0) & series.map(
        lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool))  # fmt: skip
    out = series.astype(str).to_numpy(dtype=object)
    out[whole.to_numpy()] = numeric[whole].astype(np.int64).astype(str).to_numpy()
    return out


def read_clinical(clinical: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(clinical, str | Path):
        path = Path(clinical)
        if not path.is_file():
            msg = f"Clinical table {str(path)!r} not found: pass a DataFrame or the path of a CSV file."
            raise FileNotFoundError(msg)
        return pd.read_csv(path)
    if not isinstance(clinical, pd.DataFrame):
        msg = f"`clinical` must be a DataFrame or the path of a CSV file, got {type(clinical).__name__}."
        raise TypeError(msg)
    return clinical


def match_ids(
    features: pd.DataFrame, clinical: pd.DataFrame, id_key: str | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], str]:
    """Both tables on their common ids (sorted), the ids report, and where the clinical ids came from."""
    feature_ids = clinical_ids(features.index)
    if len(set(feature_ids)) < len(feature_ids):
        twice = sorted(pd.Series(feature_ids)[pd.Series(feature_ids).duplicated()].unique())[:5]
        msg = f"The feature table has repeated ids {twice}: one row per sample or patient is needed."
        raise ValueError(msg)
    if id_key is None and features.index.name is not None and features.index.name in clinical.columns:
        id_key = str(features.index.name)
    if id_key is not None and id_key not in clinical.columns:
        msg = f"`clinical[{id_key!r}]` not found (id_key); its columns are {list(clinical.columns)[:20]}."
        raise KeyError(msg)
    their_ids = clinical_ids(clinical[id_key] if id_key is not None else clinical.index)
    where = f"clinical[{id_key!r}]" if id_key is not None else "the clinical index"
    if pd.isna(clinical[id_key]).any() if id_key is not None else False:
        msg = f"{int(clinical[id_key].isna().sum())} rows of `clinical[{id_key!r}]` have no id (NaN): drop them first."
        raise ValueError(msg)
    repeated = pd.Series(their_ids)[pd.Series(their_ids).duplicated()].unique()
    if len(repeated):
        msg = f"{where} has repeated ids {sorted(repeated)[:5]}: one clinical row per sample or patient is needed."
        raise ValueError(msg)
    common = sorted(set(feature_ids) & set(their_ids))
    if not common:
        overlap = {c: len(set(clinical_ids(clinical[c].dropna())) & set(feature_ids)) for c in clinical.columns}
        best = max(overlap, key=overlap.get) if overlap else None
        hint = (f" Column {best!r} holds {overlap[best]} of them: pass `id_key={best!r}`."
                if best is not None and overlap[best] else "")  # fmt: skip
        msg = (
            f"No id of the feature table (e.g. {list(feature_ids[:3])}) is in {where} (e.g. {list(their_ids[:3])})."
            f"{hint} Features per patient need clinical rows per patient (`cohort_features(..., patient_key=)`)."
        )
        raise ValueError(msg)
    report = {
        "matched": len(common),
        "unmatched_features": sorted(set(feature_ids) - set(common)),
        "unmatched_clinical": sorted(set(their_ids) - set(common)),
    }
    left = features.set_axis(feature_ids).loc[common]
    right = clinical.set_axis(their_ids).loc[common]
    return left, right, report, where


def is_categorical(column: pd.Series) -> bool:
    """Words, categories and True/False are levels; numbers are continuous."""
    return (not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
            or isinstance(column.dtype, pd.CategoricalDtype))  # fmt: skip
