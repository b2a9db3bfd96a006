"""The expression phenotype model: features, the fitted model file, and input scales brought to its reference."""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit._arrays import get_matrix, iter_row_blocks
from tmekit._constants import LOGGER_NAME
from tmekit._genenames import detect_gene_id_type, find_symbol_column
from tmekit._values import value_kind
from tmekit._warnings import InputWarning
from tmekit.io import atomic_write_text
from tmekit.tl._genes import diagnose_missing

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from anndata import AnnData

__all__ = [
    "CANDIDATE_FEATURES",
    "MODEL_CLASSES",
    "PhenotypeModel",
    "Scale",
    "detect_scale",
    "expression_features",
    "gene_symbols",
    "iter_dense_rows",
    "load_phenotype_model",
    "standardise",
    "to_log2_plus1",
]

log = logging.getLogger(LOGGER_NAME)

MODEL_CLASSES = ("desert", "excluded", "inflamed")
#: A sample of integers is counts only above this (log2 expression of a gene panel can be whole numbers).
_COUNTS_ABOVE = 20
Scale = Literal["auto", "zscore", "log2", "counts", "cohort"]

#: Feature name -> library signature. Chosen from the biology (signatures-and-rules.md): CD8 T effector,
#: cytolytic activity and IFN-gamma high in inflamed tumours; T/B-cell presence separates excluded (immune
#: cells present, held in stroma) from desert; CAF / pan-F-TBRS (TGF-beta) stroma high in excluded.
CANDIDATE_FEATURES: dict[str, str] = {
    "cd8_teff": "cd8_teff_mariathasan2018",
    "cytolytic": "cyt_rooney2015",
    "ifng": "ifng6_ayers2017",
    "t_cells": "marker_t",
    "b_cells": "marker_b",
    "caf": "caf_bagaev2021",
    "pan_ftbrs": "pan_ftbrs_mariathasan2018",
    "mhc1": "mhc1_bagaev2021",
}

#: Feature sets compared by the nested cross-validation in :func:`fit_phenotype_model` (pre-specified,
#: from the biology, smallest first; never searched gene by gene).
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "teff": ("cd8_teff",),
    "teff_tcells": ("cd8_teff", "t_cells"),
    "immune": ("cd8_teff", "ifng", "t_cells", "b_cells"),
    "immune_stroma": ("cd8_teff", "ifng", "t_cells", "b_cells", "caf", "pan_ftbrs"),
}
C_GRID = (0.1, 1.0, 10.0)

_MODEL_PACKAGE = "tmekit.tl"
_MODEL_FOLDER = "models"
DEFAULT_MODEL = "imvigor210_cd8_phenotype.json"


# --------------------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class PhenotypeModel:
    """A fitted multinomial logistic model from signature features to inflamed / excluded / desert.

    Features are means of per-gene standardised log expression over each feature's genes. Inputs that
    are not standardised already are standardised gene by gene against ``reference`` (per-gene mean and
    SD of log2(x + 1) expression), a fixed transform, so one sample's call never depends on others.
    """

    name: str
    classes: tuple[str, ...]
    features: dict[str, tuple[str, ...]]
    center: np.ndarray
    spread: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    reference: dict[str, tuple[float, float]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """Feature names in model order."""
        return list(self.features)

    @property
    def genes(self) -> list[str]:
        """Every gene any feature uses (sorted)."""
        return sorted({g for genes in self.features.values() for g in genes})

    @property
    def importance(self) -> pd.Series:
        """Share of the model's evidence carried by each feature (sum of |coefficient| over classes)."""
        weight = np.abs(self.coef).sum(axis=0)
        return pd.Series(weight / weight.sum(), index=self.feature_names)

    def predict_proba(self, features: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities for a samples x features table (softmax of the linear predictor)."""
        values = (features[self.feature_names].to_numpy(dtype=np.float64) - self.center) / self.spread
        logits = values @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        return pd.DataFrame(prob, index=features.index, columns=list(self.classes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters and provenance."""
        return {
            "format": "tmekit-phenotype-model/1",
            "name": self.name,
            "classes": list(self.classes),
            "features": {k: list(v) for k, v in self.features.items()},
            "feature_center": self.center.tolist(),
            "feature_spread": self.spread.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "reference_log2_mean_sd": {g: [round(m, 6), round(s, 6)] for g, (m, s) in sorted(self.reference.items())},
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhenotypeModel:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != "tmekit-phenotype-model/1":
            msg = "Not a tmekit phenotype model file (missing 'format': 'tmekit-phenotype-model/1')."
            raise ValueError(msg)
        return cls(
            name=str(data["name"]),
            classes=tuple(data["classes"]),
            features={k: tuple(v) for k, v in data["features"].items()},
            center=np.asarray(data["feature_center"], dtype=np.float64),
            spread=np.asarray(data["feature_spread"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=np.asarray(data["intercept"], dtype=np.float64),
            reference={g: (float(v[0]), float(v[1])) for g, v in data.get("reference_log2_mean_sd", {}).items()},
            provenance=dict(data.get("provenance", {})),
        )

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model as JSON (atomically; an existing file needs ``overwrite=True``)."""
        return atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=1) + "\n", overwrite=overwrite)


def load_phenotype_model(path: str | Path | None = None) -> PhenotypeModel:
    """The shipped IMvigor210-calibrated model (``path=None``) or a model saved with ``PhenotypeModel.save``.

    Parameters
    ----------
    path
        A JSON file written by :meth:`PhenotypeModel.save`; ``None``: the shipped model.

    Returns
    -------
    The :class:`PhenotypeModel` (classes, features, coefficients, reference and provenance).

    Examples
    --------
    >>> model = tk.tl.load_phenotype_model()
    >>> model.classes, list(model.features)
    (('desert', 'excluded', 'inflamed'), ['cd8_teff', 'ifng', 't_cells', 'b_cells'])
    >>> model.provenance["cv"]["balanced_accuracy_mean"]
    0.6552
    """
    if path is None:
        text = resources.files(_MODEL_PACKAGE).joinpath(_MODEL_FOLDER, DEFAULT_MODEL).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return PhenotypeModel.from_dict(json.loads(text))


# ------------------------------------------------------------------------------- input → standardised
def gene_symbols(adata: AnnData) -> pd.Index:
    names = adata.var_names
    if detect_gene_id_type(names[: min(len(names), 5000)].tolist()) in {"ensembl", "mixed"}:
        column = find_symbol_column(adata.var)
        hint = (
            f"`adata.var_names = adata.var[{column!r}].astype(str); adata.var_names_make_unique()`"
            if column
            else "add a column of HGNC symbols to `adata.var` and set it as var_names"
        )
        msg = f"var_names are Ensembl IDs; the phenotype model uses gene symbols. Fix: {hint}."
        raise ValueError(msg)
    if names.has_duplicates:
        msg = "var_names contain duplicates: run `adata.var_names_make_unique()` first."
        raise ValueError(msg)
    return names


def detect_scale(row: np.ndarray) -> str:
    """Scale of one sample's values, from that sample alone: 'zscore', 'log2', 'counts', 'linear' or 'empty'."""
    finite = np.isfinite(row)
    values = row[finite]
    kind = value_kind(values, np.flatnonzero(finite))
    if kind == "empty":
        return "empty"
    if kind == "scaled":  # negative values without a shared floor: z-scores if they are spread like them
        z_like = -4 < np.median(values) < 1.5 and 0.3 < values.std() < 2.5 and values.max() < 15
        return "zscore" if z_like else "log2"
    if kind == "counts" and values.max() > _COUNTS_ABOVE:
        return "counts"
    return "linear" if kind == "linear" else "log2"


def _check_scale(row: np.ndarray, scale: str, sample: str) -> None:
    """Refuse a stated ``scale`` that this sample's values contradict (the call would be silently wrong)."""
    seen = detect_scale(row)
    finite = row[np.isfinite(row)]
    low = float(finite.min()) if finite.size else 0.0
    wrong = {
        "counts": low < 0 or not np.array_equal(finite, np.round(finite)),
        "log2": seen in {"counts", "linear"},
        "zscore": seen in {"counts", "linear"} or low >= 0,
        "cohort": seen in {"counts", "linear"},
    }.get(scale, False)
    if wrong:
        found = {
            "zscore": "z-scores",
            "log2": "log expression" + (" with a negative floor" if low < 0 else " (no negative values)"),
            "counts": "counts",
            "linear": "linear (not log-transformed) values",
        }.get(seen, "no values")
        msg = (
            f"scale={scale!r}, but sample {sample!r} does not hold that: its values (min {low:.3g}, max "
            f"{float(finite.max()) if finite.size else 0:.3g}) look like {found}. Pass the scale the data are on, or "
            "scale='auto' to judge each sample from its own values."
        )
        raise ValueError(msg)


def to_log2_plus1(row: np.ndarray, kind: str) -> np.ndarray:
    """One sample on the log2(x + 1) scale of the model's reference (sample-local transforms only)."""
    if kind == "counts":
        return np.log2(row / np.nansum(row) * 1e6 + 1)
    if kind == "linear":
        return np.log2(row + 1)
    low = np.nanmin(row)
    if low < 0:  # log2(x + p) with a pseudocount p < 1 (e.g. log2(TPM + 0.001)): the floor is log2(p)
        return np.log2(np.maximum(np.exp2(row) - np.exp2(low), 0) + 1)
    return row


def iter_dense_rows(adata: AnnData, layer: str | None) -> Iterator[tuple[int, np.ndarray]]:
    """``(row index, dense float64 row)`` over all samples, streamed in row chunks."""
    for start, _, block in iter_row_blocks(get_matrix(adata, layer=layer)):
        dense = block.toarray() if sp.issparse(block) else np.asarray(block)
        for r, row in enumerate(dense.astype(np.float64, copy=False)):
            yield start + r, row


def standardise(
    adata: AnnData, model: PhenotypeModel, *, layer: str | None, scale: Scale
) -> tuple[pd.DataFrame, list[str]]:
    """Samples x model genes of per-gene standardised values (NaN where a gene is unusable) and scales."""
    names = gene_symbols(adata)
    genes = model.genes
    position = {g: i for i, g in enumerate(names)}
    present = [g for g in genes if g in position]
    values = np.full((adata.n_obs, len(genes)), np.nan)
    scales = ["none"] * adata.n_obs
    if not present:
        msg = (
            f"None of the {len(genes)} genes of phenotype model {model.name!r} is in `adata.var_names` "
            f"(e.g. {', '.join(genes[:5])}). Likely cause: {diagnose_missing(names, set(genes))}"
        )
        raise ValueError(msg)
    cols = np.array([position[g] for g in present])
    idx = [genes.index(g) for g in present]
    # the scale is judged on all genes of the sample, not just the model's, so every column is read once
    for i, row in iter_dense_rows(adata, layer):
        if np.isnan(row).any():
            msg = (
                f"Sample {adata.obs_names[i]!r} has NaN expression values. Replace or remove them first "
                "(`tk.pp.check(adata)` lists them)."
            )
            raise ValueError(msg)
        if scale != "auto":
            _check_scale(row, scale, str(adata.obs_names[i]))
        kind = detect_scale(row) if scale == "auto" else scale
        scales[i] = kind
        if kind in {"zscore", "cohort"}:
            values[i, idx] = row[cols]
        elif kind != "empty":
            values[i, idx] = to_log2_plus1(row, kind)[cols]
    kinds = set(scales)
    if scale == "auto" and len(kinds - {"empty"}) > 1:
        found = pd.Series(scales).value_counts().to_dict()
        msg = (
            f"Samples were judged to be on different scales {found} (judged per sample from its own values, which "
            "is ambiguous on small gene panels). If all samples share one scale, pass it: scale='zscore' or 'log2'."
        )
        warnings.warn(msg, InputWarning, stacklevel=4)
    converted = sorted(kinds & {"counts", "linear"})
    if converted:
        msg = (
            f"Some samples hold {' / '.join(converted)} values, not log expression: converted per sample to "
            "log2(CPM + 1) (counts) or log2(x + 1) (linear). Pass log2 expression or `scale=` to choose."
        )
        warnings.warn(msg, InputWarning, stacklevel=4)
    table = pd.DataFrame(values, index=adata.obs_names.astype(str), columns=genes)
    if scale == "cohort":
        table = (table - table.mean()) / table.std(ddof=0).replace(0, np.nan)
        return table, scales
    log_rows = [i for i, k in enumerate(scales) if k in {"log2", "counts", "linear"}]
    if log_rows:
        if not model.reference:
            msg = (
                f"Model {model.name!r} has no log-scale reference, so it can only read per-gene standardised "
                "(z-scored) data. Pass z-scores, use `scale='cohort'` (cohort-relative), or refit with "
                "`tk.tl.fit_phenotype_model(..., reference=...)`."
            )
            raise ValueError(msg)
        mean = np.array([model.reference.get(g, (np.nan, np.nan))[0] for g in genes])
        sd = np.array([model.reference.get(g, (np.nan, np.nan))[1] for g in genes])
        table.iloc[log_rows] = (table.iloc[log_rows].to_numpy() - mean) / sd
    return table, scales


def expression_features(
    standardised: pd.DataFrame, features: Mapping[str, Sequence[str]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sample feature values (mean over the genes available) and per-feature gene coverage (0-1)."""
    values, coverage = {}, {}
    for name, genes in features.items():
        block = standardised.reindex(columns=list(genes))
        ok = np.isfinite(block.to_numpy())
        coverage[name] = ok.sum(axis=1) / max(len(genes), 1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values[name] = np.nanmean(block.to_numpy(), axis=1)
    index = standardised.index
    return pd.DataFrame(values, index=index), pd.DataFrame(coverage, index=index)
