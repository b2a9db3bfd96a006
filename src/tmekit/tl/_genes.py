"""Match signature genes to ``var_names``: exact symbols first, then the library's safe aliases."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tmekit._genenames import detect_gene_id_type, detect_species
from tmekit._warnings import MissingGenesWarning

if TYPE_CHECKING:
    import pandas as pd

    from tmekit.signatures import Signature

__all__ = ["MatchedSignature", "diagnose_missing", "match_signatures"]


@dataclass
class MatchedSignature:
    """A signature with its genes located in ``var_names``."""

    signature: Signature
    up: list[int] = field(default_factory=list)  # column indices
    down: list[int] = field(default_factory=list)
    used: list[str] = field(default_factory=list)  # signature gene names that were found
    columns: list[str] = field(default_factory=list)  # var_names they were found as
    via_alias: dict[str, str] = field(default_factory=dict)  # signature gene -> var name
    missing: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Share of the signature's genes found."""
        return len(self.used) / self.signature.n_genes

    def weights_of(self, direction: str) -> np.ndarray:
        """Absolute weights of the found up or down genes (ones when the set is unweighted)."""
        genes = [g for g in self.used if (g in self.signature.genes_down) == (direction == "down")]
        if self.signature.weights is None:
            return np.ones(len(genes))
        return np.abs(np.array([self.signature.weights[g] for g in genes], dtype=np.float64))


def diagnose_missing(var_names: pd.Index, missing: set[str]) -> str:
    names = var_names[: min(len(var_names), 20_000)].tolist()
    id_type = detect_gene_id_type(names)
    if id_type in {"ensembl", "mixed"}:
        return (
            "var_names are Ensembl IDs, while tmekit signatures use gene symbols. Set symbols as var_names, e.g. "
            "`adata.var_names = adata.var['gene_symbols'].astype(str); adata.var_names_make_unique()` (run "
            "`tk.pp.check(adata)` to find the symbol column)."
        )
    species = detect_species(names)
    lowered = {n.lower() for n in names}
    human_style = [g for g in missing if g == g.upper()]
    case_only = missing and sum(g.lower() in lowered for g in missing) > len(missing) / 2
    if case_only and species == "human" and len(human_style) <= len(missing) / 2:
        return (
            "the signature's genes are written as mouse symbols (e.g. 'Cd8a') and the data are human. Declare the "
            "set as mouse so tmekit translates it through orthologs: `tk.signatures.Signature(name, genes_up=[...], "
            "species='mouse')`; do not change the case of gene names."
        )
    if (species in {"mouse", "mixed"} and len(human_style) > len(missing) / 2) or case_only:
        return (
            "var_names look like mouse symbols (e.g. 'Cd8a') and these are human genes. Let tmekit translate them "
            "through orthologs: `tk.tl.score(adata, signatures, species='auto')` (or species='mouse'; see "
            "`tk.signatures.translation_table(name)`); do not upper-case the gene names."
        )
    if species == "mouse":
        return (
            "these mouse genes (orthologs of the signature's genes) are not in var_names: filtered out, not "
            "expressed in this strain (e.g. H2-Ea in C57BL/6), or named differently."
        )
    if len(var_names) < 5_000:
        return (
            f"the object has only {len(var_names):,} genes (a targeted panel?), so some signature genes are not "
            "measured."
        )
    return "these genes are not in var_names (filtered out, e.g. highly-variable-gene subsetting, or not annotated)."


def match_signatures(
    signatures: list[Signature], var_names: pd.Index, *, min_overlap: float, use_aliases: bool = True
) -> list[MatchedSignature]:
    """Locate every signature's genes in ``var_names``; raise below ``min_overlap``, warn above it."""
    if not 0 < min_overlap <= 1:
        msg = f"`min_overlap` is the share of a signature's genes that must be found, in (0, 1]; got {min_overlap}."
        raise ValueError(msg)
    position = {name: i for i, name in enumerate(var_names)}
    dup = var_names[var_names.duplicated()]
    matched = []
    for sig in signatures:
        m = MatchedSignature(signature=sig)
        for gene in sig.genes:
            column = gene if gene in position else None
            if column is None and use_aliases:
                column = next((a for a in sig.aliases.get(gene, ()) if a in position), None)
            if column is None:
                m.missing.append(gene)
                continue
            if column in dup:
                msg = (
                    f"Gene {column!r} (signature {sig.name!r}) names more than one column of `adata.var_names`. "
                    "Make the names unique first: `adata.var_names_make_unique()`."
                )
                raise ValueError(msg)
            (m.down if gene in sig.genes_down else m.up).append(position[column])
            m.used.append(gene)
            m.columns.append(column)
            if column != gene:
                m.via_alias[gene] = column
        matched.append(m)
    too_low = [m for m in matched if (not m.up and not m.down) or m.fraction < min_overlap]
    if too_low:
        cause = diagnose_missing(var_names, {g for m in too_low for g in m.missing})
        lines = "; ".join(f"{m.signature.name}: {len(m.used)}/{m.signature.n_genes} genes" for m in too_low[:10])
        more = f" (and {len(too_low) - 10} more)" if len(too_low) > 10 else ""
        msg = (
            f"Too few signature genes found in `adata.var_names` (min_overlap={min_overlap:.0%}): {lines}{more}. "
            f"Likely cause: {cause} If the partial sets are acceptable, lower `min_overlap=` or leave those "
            "signatures out."
        )
        raise ValueError(msg)
    partial = [m for m in matched if m.missing]
    if partial:
        details = "; ".join(
            f"{m.signature.name} {len(m.used)}/{m.signature.n_genes} (missing {m.missing})" for m in partial
        )
        cause = diagnose_missing(var_names, {g for m in partial for g in m.missing})
        msg = f"Scoring with the genes found: {details}. Likely cause: {cause} Missing genes are recorded in `uns`."
        warnings.warn(msg, MissingGenesWarning, stacklevel=3)
    return matched
