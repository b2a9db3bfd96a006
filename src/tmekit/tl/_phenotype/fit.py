"""Fitting an expression phenotype model on labelled samples (nested cross-validation, fixed reference)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tmekit._constants import LOGGER_NAME
from tmekit.signatures import get as get_signature
from tmekit.tl._phenotype.model import (
    C_GRID,
    CANDIDATE_FEATURES,
    FEATURE_SETS,
    MODEL_CLASSES,
    PhenotypeModel,
    detect_scale,
    expression_features,
    gene_symbols,
    iter_dense_rows,
    standardise,
    to_log2_plus1,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

    from tmekit.tl._phenotype.model import Scale

__all__ = ["fit_phenotype_model"]

log = logging.getLogger(LOGGER_NAME)


# --------------------------------------------------------------------------------------------- fitting
def _read_labels(
    labels: pd.Series | pd.DataFrame | str | Path,
    ids: pd.Index,
    *,
    label_key: str,
    id_column: str | None,
    classes: Sequence[str] = MODEL_CLASSES,
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
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        msg = f"Labels must be {list(classes)}; found {unknown}. Rename them first (or pass `classes=`)."
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
    F: pd.DataFrame,
    y: np.ndarray,
    cols: Sequence[str],
    C: float,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    n_classes: int = len(MODEL_CLASSES),
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    scores = []
    out_p = np.zeros((len(y), n_classes))
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
    classes: Sequence[str] | None = None,
    candidates: Mapping[str, str | Sequence[str]] | None = None,
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
    layer, scale
        The layer with expression (default ``X``) and its scale, as for :func:`tmekit.tl.classify_expression`.
    n_splits, n_repeats, rng
        Outer cross-validation design and its seed.
    classes
        The labels' classes (default inflamed / excluded / desert); two classes give a binary model (e.g.
        ``("PD-L1+", "PD-L1-")``).
    candidates
        Features: name -> signature name or list of genes (default ``CANDIDATE_FEATURES``); ``feature_sets`` name
        sets of them.
    name
        Model name stored in the file and in every result table.

    Returns
    -------
    The fitted :class:`PhenotypeModel`; ``model.save(path)`` writes it, and
    ``tk.tl.classify_expression(adata, model=path)`` uses it.

    Examples
    --------
    Labels of your own (here, for illustration, the shipped model's calls on 120 of the bundled tumours):

    >>> bulk = tk.datasets.imvigor210_bulk()[:120].copy()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> labels = tk.get.phenotypes(bulk)["phenotype"]
    >>> model = tk.tl.fit_phenotype_model(bulk, labels, scale="zscore", n_splits=3, n_repeats=1, name="mine")
    >>> model.classes
    ('desert', 'excluded', 'inflamed')
    >>> path = model.save("my_model.json")
    >>> tk.tl.classify_expression(bulk, model=path, scale="zscore", overwrite=True)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

    classes = tuple(sorted(classes or MODEL_CLASSES))  # sorted: the order of scikit-learn's probabilities
    candidates = dict(candidates or CANDIDATE_FEATURES)
    ids = (adata.obs[id_key] if id_key else adata.obs_names.to_series()).astype(str)
    y_all = _read_labels(labels, pd.Index(ids), label_key=label_key, id_column=labels_id_column, classes=classes)
    rows = np.flatnonzero(ids.isin(y_all.index).to_numpy())
    sub = adata[rows]
    y = y_all.reindex(ids.iloc[rows].to_numpy()).to_numpy()
    counts = pd.Series(y).value_counts()
    if len(counts) < len(classes) or counts.min() < n_splits:
        msg = f"Each phenotype needs at least n_splits={n_splits} labelled samples; got {counts.to_dict()}."
        raise ValueError(msg)

    names = gene_symbols(sub)

    def genes_of(spec: str | Sequence[str]) -> tuple[str, ...]:
        return tuple(get_signature(spec).genes) if isinstance(spec, str) else tuple(spec)

    features = {f: tuple(g for g in genes_of(s) if g in set(names)) for f, s in candidates.items()}
    features = {f: g for f, g in features.items() if g}
    probe = PhenotypeModel(
        name=name, classes=classes, features=features, center=np.zeros(len(features)),
        spread=np.ones(len(features)), coef=np.zeros((len(classes), len(features))),
        intercept=np.zeros(len(classes)),
    )  # fmt: skip
    ref_table: dict[str, tuple[float, float]] = {}
    kinds = {detect_scale(row) for _, row in itertools.islice(iter_dense_rows(sub, layer), 20)}
    if scale == "zscore" or (scale == "auto" and kinds == {"zscore"}):
        std, _ = standardise(sub, probe, layer=layer, scale="zscore")
        source = reference
    else:
        source = sub
    if source is not None:
        ref_genes = [g for g in probe.genes if g in set(gene_symbols(source))]
        cols = np.array([source.var_names.get_loc(g) for g in ref_genes])
        rows = iter_dense_rows(source, layer if source is sub else None)
        logged = np.vstack([to_log2_plus1(row, detect_scale(row))[cols] for _, row in rows])
        ref_table = {g: (float(m), float(s)) for g, m, s in zip(ref_genes, logged.mean(0), logged.std(0), strict=True)}
    if source is reference and ref_table:
        # a feature must mean the same whatever the input scale: keep the genes the reference also has
        features = {
            f: kept if len(kept := tuple(x for x in g if x in ref_table)) >= 2 else g for f, g in features.items()
        }
    if source is sub:
        probe = dataclasses.replace(probe, reference=ref_table)
        std, _ = standardise(sub, probe, layer=layer, scale=scale)
    F, _ = expression_features(std, features)

    sets = {k: tuple(v) for k, v in (feature_sets or FEATURE_SETS).items()}
    sets = {k: v for k, v in sets.items() if all(f in features for f in v)}
    outer = list(RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=rng).split(F, y))

    def choose(train: np.ndarray) -> tuple[str, float]:
        inner = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=rng).split(F.iloc[train], y[train]))

        def inner_score(k: str, C: float) -> float:
            return float(_cv_scores(F.iloc[train], y[train], sets[k], C, inner, n_classes=len(classes))[0].mean())

        best = max((inner_score(k, C), -len(sets[k]), -C, k, C) for k in sets for C in C_GRID)
        return best[3], best[4]

    outer_scores, chosen = [], []
    oof = np.zeros((len(y), len(classes)))
    for train, test in outer:
        key, C = choose(train)
        chosen.append(key)
        s, p = _cv_scores(F, y, sets[key], C, [(train, test)], n_classes=len(classes))
        outer_scores.append(float(s[0]))
        oof[test] += p[test] / n_repeats
    key, C = choose(np.arange(len(y)))
    cols = list(sets[key])
    Xall = F[cols].to_numpy()
    mu, sd = Xall.mean(axis=0), Xall.std(axis=0)
    final = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit((Xall - mu) / sd, y)
    order = [list(final.classes_).index(c) for c in classes]
    coef, intercept = final.coef_, final.intercept_
    if len(classes) == 2:  # one logit for the second class: as two softmax rows, -z/2 and +z/2
        coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        order = [0, 1]
    conf = oof.max(axis=1)
    correct = np.array(classes)[oof.argmax(axis=1)] == y
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
        "features": {f: candidates[f] if isinstance(candidates[f], str) else list(candidates[f]) for f in cols},
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
                c: round(float(correct[y == c].mean()), 3) for c in classes
            },  # from probabilities averaged over the outer repeats
        },
        "reference": "none" if not ref_table else f"{len(ref_table)} genes",
    }
    return PhenotypeModel(
        name=name,
        classes=classes,
        features={f: features[f] for f in cols},
        center=mu,
        spread=sd,
        coef=coef[order],
        intercept=intercept[order],
        reference={g: v for g, v in ref_table.items() if any(g in features[f] for f in cols)},
        provenance=provenance,
    )
