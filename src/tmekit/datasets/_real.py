"""Loaders for the real datasets bundled in ``tmekit/datasets/data`` (see the README there)."""

from __future__ import annotations

import importlib.resources
from typing import TYPE_CHECKING, Any

import pandas as pd

from tmekit._constants import CELL_TYPES_KEY
from tmekit.io import read_h5ad

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["imvigor210_bulk", "imvigor210_clinical", "keren2018_mibi", "wu2021_cid4465"]


def wu2021_cid4465() -> AnnData:
    """One triple-negative breast tumour from Wu et al. 2021 (10x scRNA-seq, raw UMI counts).

    1,564 cells x 29,733 genes, sample CID4465, with the authors' annotation in
    ``obs["cell_type_major"]`` (CAFs, PVL, Endothelial, Myeloid, Cancer Epithelial, T-cells,
    Plasmablasts, B-cells, Normal Epithelial) and ``obs["cell_type_minor"]``.

    ``X`` holds raw counts: normalise before scoring, e.g.
    ``sc.pp.normalize_total(adata, target_sum=1e4); sc.pp.log1p(adata)``.

    Citation: Wu SZ et al. A single-cell and spatially resolved atlas of human breast cancers.
    Nat Genet 53:1334-1347 (2021). doi:10.1038/s41588-021-00911-1. GEO GSE176078.

    Returns
    -------
    A new AnnData object, read from the copy shipped in the package (a fresh copy on every call).

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> adata.shape, adata.obs["cell_type_major"].nunique()
    ((1564, 29733), 9)
    """
    return _read_bundled("wu2021_cid4465_tnbc.h5ad")


def _read_bundled(name: str) -> AnnData:
    resource = importlib.resources.files("tmekit.datasets") / "data" / name
    with importlib.resources.as_file(resource) as path:
        return read_h5ad(path)


def keren2018_mibi() -> AnnData:
    """Four triple-negative breast tumours imaged by MIBI-TOF (Keren et al. 2018): every cell's position and type.

    21,153 cells of patients 1-4 (one 800 um field each; coordinates in pixels, 800 um = 2048 px, so pass
    ``microns_per_unit=800 / 2048``), with the study's cell types in ``obs["cell_type"]`` (Tumour, CD8T, CD4T,
    CD3T, Treg, NK, B, Macrophage, DC, DCMono, MonoNeu, Neutrophil, Otherimmune, Endothelial, Mesenchymal,
    Other) and ``obs["patient_id"]``. Positions are in ``obsm["spatial"]`` (squidpy's key). There is no
    expression matrix (``n_vars == 0``) and no per-patient class label. The cell types' roles are declared
    (:func:`keren2018_labels`, ``uns["tmekit_cell_types"]``).

    Citation: Keren L et al. A Structured Tumor-Immune Microenvironment in Triple Negative Breast Cancer
    Revealed by Multiplexed Ion Beam Imaging. Cell 174:1373-1387 (2018). doi:10.1016/j.cell.2018.08.039.

    Returns
    -------
    A new AnnData object (a fresh copy on every call).

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> adata.n_obs, adata.obs["patient_id"].nunique()
    (21153, 4)
    >>> tk.tl.classify(adata, library_key="patient_id", microns_per_unit=800 / 2048)
    """
    adata = _read_bundled("keren2018_mibi_4patients.h5ad")
    adata.uns[CELL_TYPES_KEY] = keren2018_labels()
    return adata


def imvigor210_bulk() -> AnnData:
    """348 bulk urothelial tumours of the IMvigor210 trial (Mariathasan et al. 2018), signature genes only.

    ``X`` holds per-gene z-scores across the 348 tumours (not counts) for the 48 genes of the expression
    phenotype model, the CD8 T-effector and pan-F-TBRS sets and the five headline modules that the source
    file measures; ``obs`` holds ``patient_id`` and ``tissue``. No phenotype labels or outcomes (the calibration
    half's are :func:`imvigor210_clinical`). Classify with ``tk.tl.classify_expression(adata, scale="zscore")``:
    on 48 mostly immune genes the per-sample scale detection of ``scale="auto"`` can mistake an immune-poor
    tumour's z-scores for log values.

    Citation: Mariathasan S et al. TGF-beta attenuates tumour response to PD-L1 blockade by contributing
    to exclusion of T cells. Nature 554:544-548 (2018). doi:10.1038/nature25501 (data CC-BY).

    Returns
    -------
    A new AnnData object (a fresh copy on every call).

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> bulk.shape
    (348, 48)
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    """
    return _read_bundled("imvigor210_bulk_subset.h5ad")


def imvigor210_clinical() -> pd.DataFrame:
    """Outcomes of the IMvigor210 calibration half: 142 patients of :func:`imvigor210_bulk`, one row each.

    Columns: ``patient_id``, ``immune_phenotype`` (the pathologists' CD8 phenotype: inflamed 37 / excluded 67 /
    desert 38), ``best_confirmed_overall_response`` (RECIST: CR, PR, SD, PD; NaN where not assessed),
    ``binary_response`` (``CR/PR`` or ``SD/PD``; 31 / 91, 20 not assessed), ``os_months`` and ``os_event`` (1 =
    died). The other half of the labelled patients is held out for blind validation and is not shipped. The
    expression phenotype model of :func:`tmekit.tl.classify_expression` was fitted on these 142 phenotypes, so
    its calls agree with them better here than on new tumours (its outcomes were never used).

    Citation: Mariathasan S et al. Nature 554:544-548 (2018). doi:10.1038/nature25501 (data CC-BY).

    Returns
    -------
    A new DataFrame, read from the CSV shipped in the package.

    Examples
    --------
    >>> clinical = tk.datasets.imvigor210_clinical()
    >>> clinical["binary_response"].value_counts().to_dict()
    {'SD/PD': 91, 'CR/PR': 31}
    """
    resource = importlib.resources.files("tmekit.datasets") / "data" / "imvigor210_calibration_clinical.csv"
    with resource.open("rb") as handle:
        return pd.read_csv(handle, dtype={"patient_id": str})


def keren2018_labels() -> dict[str, Any]:
    """The cell types' roles in :func:`keren2018_mibi`, as :func:`tmekit.pp.cell_types` takes them.

    ``key``, ``tumor`` (Tumour), ``immune`` (the 12 immune types of the paper) and ``cd8`` (CD8T);
    :func:`keren2018_mibi` declares them already.

    Returns
    -------
    ``{"key", "tumor", "immune", "cd8"}``, the keyword arguments of :func:`tmekit.pp.cell_types`.

    Examples
    --------
    >>> labels = tk.datasets.keren2018_labels()
    >>> labels["tumor"], labels["cd8"], len(labels["immune"])
    (['Tumour'], ['CD8T'], 12)
    """
    return {
        "key": "cell_type",
        "tumor": ["Tumour"],
        "immune": ["CD8T", "CD4T", "CD3T", "Treg", "NK", "B", "Macrophage", "DC", "DCMono", "MonoNeu",
                          "Neutrophil", "Otherimmune"],
        "cd8": ["CD8T"],
    }  # fmt: skip
