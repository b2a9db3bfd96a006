"""Expression-based immune-phenotype inference (bulk, pseudobulk): features, model, fitting, calling.

Without positions, exclusion cannot be seen; the call is an *inference* from signature features and is
labelled as such (``inferred=True``). Every feature is computed from one sample's own expression, so a
sample gets the same call alone or inside a cohort (unless ``scale="cohort"`` is asked for, which is
cohort-relative by definition and flagged in the output).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import logging
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit._arrays import get_matrix, iter_row_blocks
from tmekit._constants import LOGGER_NAME, PHENOTYPE_KEY
from tmekit._warnings import InputWarning, MissingGenesWarning
from tmekit.io import atomic_write_text
from tmekit.pp._check import _find_symbol_column, detect_gene_id_type
from tmekit.signatures import get as get_signature
from tmekit.tl._aggregate import aggregate
from tmekit.tl._genes import diagnose_missing
from tmekit.tl._score import score

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from anndata import AnnData

__all__ = [
    "CANDIDATE_FEATURES",
    "PHENOTYPES",
    "PhenotypeModel",
    "classify_expression",
    "expression_features",
    "fit_phenotype_model",
    "load_phenotype_model",
]

log = logging.getLogger(LOGGER_NAME)

PHENOTYPES = ("desert", "excluded", "inflamed")
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
    """The shipped IMvigor210-calibrated model (``path=None``) or a model saved with ``PhenotypeModel.save``."""
    if path is None:
        text = resources.files(_MODEL_PACKAGE).joinpath(_MODEL_FOLDER, DEFAULT_MODEL).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return PhenotypeModel.from_dict(json.loads(text))


# ------------------------------------------------------------------------------- input → standardised
def _symbols(adata: AnnData) -> pd.Index:
    names = adata.var_names
    if detect_gene_id_type(names[: min(len(names), 5000)].tolist()) in {"ensembl", "mixed"}:
        column = _find_symbol_column(adata.var)
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


def _detect_scale(row: np.ndarray) -> str:
    """Scale of one sample's values, from that sample alone: 'zscore', 'log2', 'counts' or 'linear'."""
    finite = row[np.isfinite(row)]
    if finite.size == 0:
        return "empty"
    low = finite.min()
    if low < 0:
        floor = np.count_nonzero(finite == low) > 1  # log2(x + p) piles its zeros at log2(p); z-scores do not
        if not floor and -4 < np.median(finite) < 1.5 and 0.3 < finite.std() < 2.5 and finite.max() < 15:
            return "zscore"
        return "log2"
    if np.array_equal(finite, np.round(finite)) and finite.max() > 20:
        return "counts"
    if finite.max() > 30:
        return "linear"
    return "log2"


def _to_log2_plus1(row: np.ndarray, kind: str) -> np.ndarray:
    """One sample on the log2(x + 1) scale of the model's reference (sample-local transforms only)."""
    if kind == "counts":
        return np.log2(row / np.nansum(row) * 1e6 + 1)
    if kind == "linear":
        return np.log2(row + 1)
    low = np.nanmin(row)
    if low < 0:  # log2(x + p) with a pseudocount p < 1 (e.g. log2(TPM + 0.001)): the floor is log2(p)
        return np.log2(np.maximum(np.exp2(row) - np.exp2(low), 0) + 1)
    return row


def _iter_rows(adata: AnnData, layer: str | None) -> Iterator[tuple[int, np.ndarray]]:
    """``(row index, dense float64 row)`` over all samples, streamed in row chunks."""
    for start, _, block in iter_row_blocks(get_matrix(adata, layer=layer)):
        dense = block.toarray() if sp.issparse(block) else np.asarray(block)
        for r, row in enumerate(dense.astype(np.float64, copy=False)):
            yield start + r, row


def _standardised(
    adata: AnnData, model: PhenotypeModel, *, layer: str | None, scale: Scale
) -> tuple[pd.DataFrame, list[str]]:
    """Samples x model genes of per-gene standardised values (NaN where a gene is unusable) and scales."""
    names = _symbols(adata)
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
    for i, row in _iter_rows(adata, layer):
        if np.isnan(row).any():
            msg = (
                f"Sample {adata.obs_names[i]!r} has NaN expression values. Replace or remove them first "
                "(`tk.pp.check(adata)` lists them)."
            )
            raise ValueError(msg)
        kind = _detect_scale(row) if scale == "auto" else scale
        scales[i] = kind
        if kind in {"zscore", "cohort"}:
            values[i, idx] = row[cols]
        elif kind != "empty":
            values[i, idx] = _to_log2_plus1(row, kind)[cols]
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


# --------------------------------------------------------------------------------------------- calling
def classify_expression(
    adata: AnnData,
    *,
    model: PhenotypeModel | str | Path | None = None,
    scale: Scale = "auto",
    layer: str | None = None,
    sample_key: str | None = None,
    min_overlap: float = 0.5,
    key_added: str = PHENOTYPE_KEY,
    overwrite: bool = False,
    species: str = "auto",
) -> pd.DataFrame:
    """Expression mode of :func:`tmekit.tl.classify` (see there)."""
    if not 0 < min_overlap <= 1:
        msg = (
            f"`min_overlap` is the share of the model's evidence that must be computable, in (0, 1]; got {min_overlap}."
        )
        raise ValueError(msg)
    if not overwrite and (key_added in adata.uns or key_added in adata.obs):
        msg = f"`adata.uns[{key_added!r}]` or `adata.obs[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        raise ValueError(msg)
    if adata.n_obs == 0:
        msg = "`adata` has no samples (0 rows): nothing to classify."
        raise ValueError(msg)
    fitted = model if isinstance(model, PhenotypeModel) else load_phenotype_model(model)
    samples = adata
    if sample_key is not None and sample_key not in adata.obs:
        msg = f"`adata.obs[{sample_key!r}]` not found: `sample_key` must name the obs column identifying samples."
        raise KeyError(msg)
    pseudobulk = sample_key is not None and adata.obs[sample_key].nunique() < adata.n_obs
    if pseudobulk:
        samples = aggregate(adata, sample_key=sample_key, layer=layer)  # log2(CPM + 1) of summed counts
        layer_used = None
    else:
        layer_used = layer
    model_view, species_used, renamed = _in_model_species(samples, fitted, layer=layer_used, species=species)
    std, scales = _standardised(model_view, fitted, layer=None if model_view is not samples else layer_used,
                                scale=scale)  # fmt: skip
    feats, coverage = expression_features(std, fitted.features)
    prob = fitted.predict_proba(feats.fillna(0.0))
    importance = fitted.importance
    evidence = (coverage * importance).sum(axis=1)  # share of the model's evidence that could be computed
    no_genes = (coverage.loc[:, importance > 0] == 0).any(axis=1)
    thin = (evidence < min_overlap) | no_genes | pd.Series([s == "empty" for s in scales], index=std.index)
    call = prob.idxmax(axis=1).where(~thin, "indeterminate")
    confidence = (prob.max(axis=1) * evidence).where(~thin, 0.0)
    table = pd.DataFrame(
        {
            "phenotype": pd.Categorical(call, categories=[*PHENOTYPES, "indeterminate"]),
            "confidence": confidence.astype(np.float64),
            **{f"p_{c}": prob[c] for c in fitted.classes},
            "mode": "expression",
            "inferred": True,
            "cohort_relative": scale == "cohort",
            "model": fitted.name,
            "species": species_used,
            "input_scale": scales,
            "gene_coverage": evidence,
            "reason": np.where(
                thin,
                [
                    "no expression values"
                    if s == "empty"
                    else f"only {evidence[i]:.0%} of the model's evidence has its genes (min_overlap "
                    f"{min_overlap:.0%}); coverage: " + ", ".join(f"{f} {c:.0%}" for f, c in coverage.loc[i].items())
                    for i, s in zip(std.index, scales, strict=True)
                ],
                "",
            ),
        },
        index=std.index,
    )
    for name in fitted.feature_names:
        table[f"feature_{name}"] = feats[name]
        table[f"coverage_{name}"] = coverage[name]
    for column, values in _context_scores(samples, layer_used).items():
        table[column] = values.to_numpy()
    if pseudobulk:
        table.index.name = sample_key
    found = set(std.columns[np.isfinite(std.to_numpy()).any(axis=0)])
    missing = {f: [g for g in genes if g not in found] for f, genes in fitted.features.items()}
    lost = {f: m for f, m in missing.items() if m}
    if lost:
        detail = "; ".join(
            f"{f}: {len(m)}/{len(fitted.features[f])} missing ({', '.join(m[:6])})" for f, m in lost.items()
        )
        msg = f"Phenotype features computed from the genes available: {detail}. Confidence is lowered accordingly."
        warnings.warn(msg, MissingGenesWarning, stacklevel=3)
    adata.uns[key_added] = {
        "table": table,
        "mode": "expression",
        "model": fitted.name,
        "model_provenance": json.dumps(fitted.provenance),
        "scale": scale,
        "min_overlap": min_overlap,
        "missing_genes": {f: list(m) for f, m in lost.items()},
        "species": species_used,
        "orthologs": renamed,
    }
    if pseudobulk:
        adata.obs[key_added] = pd.Categorical(
            adata.obs[sample_key].astype(str).map(table["phenotype"].astype(str)),
            categories=table["phenotype"].cat.categories,
        )
    else:
        adata.obs[key_added] = table["phenotype"].to_numpy()
    return table


def _in_model_species(
    samples: AnnData, model: PhenotypeModel, *, layer: str | None, species: str
) -> tuple[AnnData, str, dict[str, str]]:
    """The samples as the (human) model reads them: mouse genes renamed to their human orthologs.

    Only the model's genes with a well-supported one-to-one (or best one-to-many) mouse ortholog are renamed;
    the expression values are not touched (a light object sharing the matrix).
    """
    from tmekit.signatures._orthologs import translation_table
    from tmekit.signatures._signature import Signature
    from tmekit.tl._score import data_species

    found = data_species(pd.Index(samples.var_names), species)
    if found != "mouse":
        return samples, found, {}
    table = translation_table(Signature(name=model.name, genes_up=model.genes), to="mouse")
    to_human = {m: h for h, m in table["translated"].items() if m and "|" not in m}
    names = pd.Index([to_human.get(str(g), str(g)) for g in samples.var_names])
    if names.has_duplicates:  # a human model gene already present under its own name: keep the mouse gene's
        names = pd.Index(
            [
                str(g) if dup else n
                for g, n, dup in zip(samples.var_names, names, names.duplicated(keep=False), strict=True)
            ]
        )
    light = ad.AnnData(X=get_matrix(samples, layer=layer), obs=pd.DataFrame(index=samples.obs_names.copy()),
                       var=pd.DataFrame(index=names))  # fmt: skip
    renamed = {m: h for m, h in to_human.items() if m in set(samples.var_names)}
    log.info("mouse data: %d model genes read through their mouse orthologs", len(renamed))
    return light, "mouse (orthologs of the human model genes)", renamed


#: Not read by the model: per-sample rank (UCell) scores shown with the call, for the T-effector vs TGF-beta
#: plane of Mariathasan 2018 (rank scores use only the sample's own expression).
CONTEXT_SIGNATURES = {"score_cd8_teff": "cd8_teff_mariathasan2018", "score_pan_ftbrs": "pan_ftbrs_mariathasan2018"}


def _context_scores(samples: AnnData, layer: str | None) -> pd.DataFrame:
    light = ad.AnnData(X=get_matrix(samples, layer=layer), var=pd.DataFrame(index=samples.var_names.copy()))
    out = pd.DataFrame(index=samples.obs_names.astype(str))
    for column, name in CONTEXT_SIGNATURES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score(
                    light,
                    [name],
                    method="rank",
                    max_rank=min(1500, light.n_vars),
                    min_overlap=0.1,
                    key_added="_ctx",
                    overwrite=True,
                )
            out[column] = light.obsm["_ctx"][name].to_numpy()
        except ValueError:
            out[column] = np.nan  # too few of its genes measured: the plane is left out, the call is not affected
    return out


# --------------------------------------------------------------------------------------------- fitting
def _read_labels(
    labels: pd.Series | pd.DataFrame | str | Path, ids: pd.Index, *, label_key: str, id_column: str | None
) -> pd.Series:
    if isinstance(labels, str | Path):
        labels = pd.read_csv(labels)
    if isinstance(labels, pd.DataFrame):
        key = id_column or labels.columns[0]
        if key not in labels or label_key not in labels:
            msg = f"Labels table needs columns {key!r} (sample id) and {label_key!r}; it has {list(labels.columns)}."
            raise KeyError(msg)
        labels = labels.set_index(key)[label_key]
    labels = labels.dropna().astype(str)
    labels.index = labels.index.astype(str)
    unknown = sorted(set(labels) - set(PHENOTYPES))
    if unknown:
        msg = f"Labels must be {list(PHENOTYPES)}; found {unknown}. Rename them first."
        raise ValueError(msg)
    matched = labels.index.intersection(ids)
    if len(matched) < len(labels):
        absent = [i for i in labels.index if i not in set(ids)][:5]
        msg = (
            f"{len(labels) - len(matched)} of {len(labels)} label ids are not samples of `adata` (e.g. {absent}; "
            f"adata ids look like {list(ids[:3])}). Pass `id_key=` naming the obs column holding these ids."
        )
        raise ValueError(msg)
    return labels


def _cv_scores(
    F: pd.DataFrame, y: np.ndarray, cols: Sequence[str], C: float, splits: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    scores = []
    out_p = np.zeros((len(y), len(PHENOTYPES)))
    for train, test in splits:
        Xtr = F.iloc[train][list(cols)].to_numpy()
        mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
        fit = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
        fit.fit((Xtr - mu) / sd, y[train])
        p = fit.predict_proba((F.iloc[test][list(cols)].to_numpy() - mu) / sd)
        scores.append(balanced_accuracy_score(y[test], fit.classes_[p.argmax(axis=1)]))
        out_p[test] = p
    return np.asarray(scores), out_p


def fit_phenotype_model(
    adata: AnnData,
    labels: pd.Series | pd.DataFrame | str | Path,
    *,
    label_key: str = "immune_phenotype",
    id_key: str | None = None,
    labels_id_column: str | None = None,
    feature_sets: Mapping[str, Sequence[str]] | None = None,
    layer: str | None = None,
    scale: Scale = "auto",
    reference: AnnData | None = None,
    n_splits: int = 5,
    n_repeats: int = 10,
    rng: int = 0,
    name: str = "custom",
) -> PhenotypeModel:
    """Fit the expression phenotype model on a labelled cohort (the call that made the shipped model).

    Features are the means of per-gene standardised expression over each signature in
    ``CANDIDATE_FEATURES`` (genes absent from ``adata`` are left out of the feature for good). The
    feature set (``feature_sets``, default ``FEATURE_SETS``) and the L2 strength ``C`` are chosen by
    nested cross-validation: the outer loop (``n_repeats`` x ``n_splits``-fold stratified) measures the
    whole procedure's balanced accuracy, the inner 5-fold loop picks the set and ``C``. The final model
    is refit on all labelled samples with the choice the inner loop makes on all of them. Provenance
    (data, date, features, chosen set, outer CV scores per fold and the calibration of the confidence)
    is stored in the model.

    Parameters
    ----------
    adata
        Samples x genes (bulk or pseudobulk), z-scored per gene or log expression.
    labels
        Sample id -> inflamed / excluded / desert: a Series, a DataFrame or a CSV path (first column or
        ``labels_id_column`` = id, ``label_key`` = phenotype). Ids must all be samples of ``adata``.
    id_key
        ``obs`` column holding the ids (default: ``obs_names``).
    reference
        Log-scale expression of the same kind of tumours (samples x genes, log2 TPM/CPM) to derive the
        per-gene mean/SD that lets the model read log data, when ``adata`` itself is z-scored. Features
        then keep only genes the reference also has (when at least 2 remain), so a feature means the
        same on z-scored and on log input. With log ``adata``, the reference is ``adata`` itself.
    n_splits, n_repeats, rng
        Outer cross-validation design and its seed.
    name
        Model name stored in the file and in every result table.

    Returns
    -------
    The fitted :class:`PhenotypeModel`; ``model.save(path)`` writes it, ``tk.tl.classify(...,
    mode="expression", model=path)`` uses it.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

    ids = (adata.obs[id_key] if id_key else adata.obs_names.to_series()).astype(str)
    y_all = _read_labels(labels, pd.Index(ids), label_key=label_key, id_column=labels_id_column)
    rows = np.flatnonzero(ids.isin(y_all.index).to_numpy())
    sub = adata[rows]
    y = y_all.reindex(ids.iloc[rows].to_numpy()).to_numpy()
    counts = pd.Series(y).value_counts()
    if len(counts) < len(PHENOTYPES) or counts.min() < n_splits:
        msg = f"Each phenotype needs at least n_splits={n_splits} labelled samples; got {counts.to_dict()}."
        raise ValueError(msg)

    names = _symbols(sub)
    features = {f: tuple(g for g in get_signature(s).genes if g in set(names)) for f, s in CANDIDATE_FEATURES.items()}
    features = {f: g for f, g in features.items() if g}
    probe = PhenotypeModel(
        name=name, classes=PHENOTYPES, features=features, center=np.zeros(len(features)),
        spread=np.ones(len(features)), coef=np.zeros((3, len(features))), intercept=np.zeros(3),
    )  # fmt: skip
    ref_table: dict[str, tuple[float, float]] = {}
    kinds = {_detect_scale(row) for _, row in itertools.islice(_iter_rows(sub, layer), 20)}
    if scale == "zscore" or (scale == "auto" and kinds == {"zscore"}):
        std, _ = _standardised(sub, probe, layer=layer, scale="zscore")
        source = reference
    else:
        source = sub
    if source is not None:
        ref_genes = [g for g in probe.genes if g in set(_symbols(source))]
        cols = np.array([source.var_names.get_loc(g) for g in ref_genes])
        rows = _iter_rows(source, layer if source is sub else None)
        logged = np.vstack([_to_log2_plus1(row, _detect_scale(row))[cols] for _, row in rows])
        ref_table = {g: (float(m), float(s)) for g, m, s in zip(ref_genes, logged.mean(0), logged.std(0), strict=True)}
    if source is reference and ref_table:
        # a feature must mean the same whatever the input scale: keep the genes the reference also has
        features = {
            f: kept if len(kept := tuple(x for x in g if x in ref_table)) >= 2 else g for f, g in features.items()
        }
    if source is sub:
        probe = dataclasses.replace(probe, reference=ref_table)
        std, _ = _standardised(sub, probe, layer=layer, scale=scale)
    F, _ = expression_features(std, features)

    sets = {k: tuple(v) for k, v in (feature_sets or FEATURE_SETS).items()}
    sets = {k: v for k, v in sets.items() if all(f in features for f in v)}
    outer = list(RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=rng).split(F, y))

    def choose(train: np.ndarray) -> tuple[str, float]:
        inner = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=rng).split(F.iloc[train], y[train]))
        best = max(
            ((float(_cv_scores(F.iloc[train], y[train], sets[k], C, inner)[0].mean()), -len(sets[k]), -C, k, C)
             for k in sets for C in C_GRID),
        )  # fmt: skip
        return best[3], best[4]

    outer_scores, chosen = [], []
    oof = np.zeros((len(y), len(PHENOTYPES)))
    for train, test in outer:
        key, C = choose(train)
        chosen.append(key)
        s, p = _cv_scores(F, y, sets[key], C, [(train, test)])
        outer_scores.append(float(s[0]))
        oof[test] += p[test] / n_repeats
    key, C = choose(np.arange(len(y)))
    cols = list(sets[key])
    Xall = F[cols].to_numpy()
    mu, sd = Xall.mean(axis=0), Xall.std(axis=0)
    final = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit((Xall - mu) / sd, y)
    order = [list(final.classes_).index(c) for c in PHENOTYPES]
    conf = oof.max(axis=1)
    correct = np.array(PHENOTYPES)[oof.argmax(axis=1)] == y
    bins = [0.0, 0.5, 0.6, 0.7, 1.01]
    calibration = [
        {
            "confidence": f"{lo:.1f}-{min(hi, 1.0):.1f}",
            "n": int(m.sum()),
            "accuracy": round(float(correct[m].mean()), 3),
        }
        for lo, hi in itertools.pairwise(bins)
        if (m := (conf >= lo) & (conf < hi)).any()
    ]
    provenance = {
        "fitted": dt.date.today().isoformat(),
        "n_samples": len(y),
        "class_counts": {k: int(v) for k, v in counts.items()},
        "feature_set": key,
        "C": C,
        "features": {f: CANDIDATE_FEATURES[f] for f in cols},
        "candidate_feature_sets": {k: list(v) for k, v in sets.items()},
        "cv": {
            "design": f"nested: outer {n_repeats}x repeated stratified {n_splits}-fold, inner 5-fold choice of "
            f"feature set and C in {list(C_GRID)}; seed {rng}",
            "balanced_accuracy_mean": round(float(np.mean(outer_scores)), 4),
            "balanced_accuracy_sd": round(float(np.std(outer_scores)), 4),
            "balanced_accuracy_folds": [round(s, 4) for s in outer_scores],
            "feature_set_chosen_in_outer_folds": pd.Series(chosen).value_counts().to_dict(),
            "confidence_calibration": calibration,
            "out_of_fold_recall": {
                c: round(float(correct[y == c].mean()), 3) for c in PHENOTYPES
            },  # from probabilities averaged over the outer repeats
        },
        "reference": "none" if not ref_table else f"{len(ref_table)} genes",
    }
    return PhenotypeModel(
        name=name,
        classes=PHENOTYPES,
        features={f: features[f] for f in cols},
        center=mu,
        spread=sd,
        coef=final.coef_[order],
        intercept=final.intercept_[order],
        reference={g: v for g, v in ref_table.items() if any(g in features[f] for f in cols)},
        provenance=provenance,
    )
