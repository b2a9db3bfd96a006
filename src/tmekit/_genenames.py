"""Gene names: ID type, species, and reading one species' genes through the other's orthologs (one home)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from tmekit.signatures import OrthologError, Signature, orthologs, translate, translation_table

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "data_species",
    "detect_gene_id_type",
    "detect_species",
    "find_symbol_column",
    "is_gene_symbol",
    "mouse_orthologs",
    "sets_in_species",
]

_ENSEMBL = re.compile(r"^ENS([A-Z]{0,6})G\d{11}(\.\d+)?$")
# Highly expressed housekeeping/immune genes, written as each species writes them.
SPECIES = ("human", "mouse")
_HUMAN_MARKERS = ("ACTB", "GAPDH", "PTPRC", "B2M", "MALAT1", "CD74", "EEF1A1", "TMSB4X", "CD3E", "EPCAM")
_MOUSE_MARKERS = ("Actb", "Gapdh", "Ptprc", "B2m", "Malat1", "Cd74", "Eef1a1", "Tmsb4x", "Cd3e", "Epcam")
_SYMBOL_COLUMNS = ("gene_symbols", "gene_symbol", "gene_name", "gene_names", "symbol", "feature_name", "gene")


def detect_gene_id_type(names: Sequence[str]) -> Literal["symbol", "ensembl", "mixed", "unknown"]:
    """Whether gene names are Ensembl IDs (``ENSG...``/``ENSMUSG...``) or symbols.

    Parameters
    ----------
    names
        Gene names, e.g. ``adata.var_names``.

    Returns
    -------
    ``"ensembl"`` when more than 90% are Ensembl IDs, ``"symbol"`` when fewer than 10% are, ``"mixed"`` in between
    and ``"unknown"`` for no names.

    Examples
    --------
    >>> tk.pp.detect_gene_id_type(["ENSG00000153563", "ENSG00000172116"])
    'ensembl'
    >>> tk.pp.detect_gene_id_type(tk.datasets.wu2021_cid4465().var_names)
    'symbol'
    """
    names = [str(n) for n in names]
    if not names:
        return "unknown"
    frac = sum(bool(_ENSEMBL.match(n)) for n in names) / len(names)
    if frac > 0.9:
        return "ensembl"
    return "mixed" if frac > 0.1 else "symbol"


def detect_species(names: Sequence[str]) -> Literal["human", "mouse", "mixed", "unknown"]:
    """Human vs mouse from symbol casing (``CD8A`` vs ``Cd8a``) or Ensembl prefix (``ENSG``/``ENSMUSG``).

    Parameters
    ----------
    names
        Gene names, e.g. ``adata.var_names``.

    Returns
    -------
    ``"human"``, ``"mouse"``, ``"mixed"`` (both styles, or markers of both species) or ``"unknown"`` (no names with
    letters to read).

    Examples
    --------
    >>> tk.pp.detect_species(["CD8A", "PTPRC", "CD3E"])
    'human'
    >>> tk.pp.detect_species(["Cd8a", "Ptprc", "Cd3e"])
    'mouse'
    """
    names = [str(n) for n in names]
    prefixes = {m.group(1) for n in names if (m := _ENSEMBL.match(n))}
    if prefixes and len(prefixes & {"", "MUS"}) == len(prefixes):
        if len(prefixes) == 2:
            return "mixed"
        return "mouse" if "MUS" in prefixes else "human"
    upper = title = 0
    for n in names:
        letters = [c for c in n if c.isalpha()]
        if len(letters) < 2 or _ENSEMBL.match(n):
            continue
        if n.upper() == n:
            upper += 1
        elif n[0].isupper() and n[1:].lower() == n[1:]:
            title += 1
    present = set(names)
    human_hits = sum(m in present for m in _HUMAN_MARKERS)
    mouse_hits = sum(m in present for m in _MOUSE_MARKERS)
    if human_hits and mouse_hits:
        return "mixed"
    total = upper + title
    if total == 0:
        return "unknown"
    title_frac = title / total
    if mouse_hits or (title_frac > 0.6 and not human_hits):
        return "mouse" if title_frac > 0.3 or mouse_hits else "mixed"
    if human_hits or title_frac < 0.2:
        return "human" if title_frac < 0.5 else "mixed"
    return "mixed"


@functools.cache
def _known_symbols() -> frozenset[str]:
    table = orthologs()
    return frozenset(table["human_symbol"]) | frozenset(table["mouse_symbol"])


def is_gene_symbol(name: str) -> bool:
    """Whether ``name`` is a human or mouse gene symbol of the shipped ortholog table (``CD274``, ``Cd274``).

    Protein channel names (``PD-L1``, ``PD1``, ``Ki67``, ``CD8``) are not; some proteins share their gene's name
    (``CD68``, ``FOXP3``).
    """
    return str(name) in _known_symbols()


def find_symbol_column(var: pd.DataFrame) -> str | None:
    for col in var.columns:
        if (str(col).lower() in _SYMBOL_COLUMNS and var[col].dtype.kind in "OUS") or isinstance(
            var[col].dtype, pd.CategoricalDtype
        ):
            values = var[col].astype(str)
            if str(col).lower() in _SYMBOL_COLUMNS and detect_gene_id_type(values[:5000].tolist()) == "symbol":
                return str(col)
    return None


def data_species(var_names: pd.Index, species: str) -> str:
    """``"human"``, ``"mouse"`` or ``"unknown"`` for the data; mixed gene names and unknown species are errors."""
    if species not in {"auto", "human", "mouse"}:
        msg = f"Unknown species={species!r}: use 'auto' (detect from gene names), 'human' or 'mouse'."
        raise ValueError(msg)
    if species != "auto":
        return species
    found = detect_species(var_names.astype(str).tolist())
    if found == "mixed":
        msg = (
            "Gene names mix human-style (CD8A) and mouse-style (Cd8a) symbols, so the species cannot be told. Check "
            "that the object holds one species and that var_names were not partly upper-cased; if you know it, "
            "pass species='human' or species='mouse'."
        )
        raise ValueError(msg)
    return found


def sets_in_species(
    sigs: list[Signature], var_names: pd.Index, *, species: str, min_overlap: float, skip_untranslatable: bool = False
) -> tuple[list[Signature], dict[str, Any]]:
    """Signatures in the data's species: sets of the other species go through orthologs (logged and recorded).

    A set too thin to translate raises :class:`~tmekit.signatures.OrthologError`, or with ``skip_untranslatable``
    is kept as it is (for callers that leave out sets their coverage check finds unmeasurable).
    """
    target = data_species(var_names, species)
    if target not in SPECIES:
        return sigs, {}
    out, record = [], {}
    for sig in sigs:
        if sig.species == target or sig.species not in SPECIES:
            out.append(sig)
            continue
        try:
            translated = translate(sig, to=target, min_overlap=min_overlap)  # logs the translation
        except OrthologError:
            if not skip_untranslatable:
                raise
            out.append(sig)
            continue
        table = translation_table(sig, to=target)
        out.append(translated)
        record[sig.name] = {
            "from": sig.species,
            "to": target,
            "genes": {g: t for g, t in table["translated"].items() if t},
            "no_ortholog": table.index[table["translated"] == ""].tolist(),
            "caveats": [c for c in table["caveat"] if c],
        }
    return out, record


def mouse_orthologs(genes: Sequence[str], *, name: str = "genes") -> dict[str, str]:
    """Human gene -> its mouse ortholog, for the genes with exactly one well-supported partner not shared."""
    table = translation_table(Signature(name=name, genes_up=tuple(genes)), to="mouse")
    single = {h: m for h, m in table["translated"].items() if m and "|" not in m}
    counts = pd.Series(list(single.values())).value_counts()
    return {h: m for h, m in single.items() if counts[m] == 1}
