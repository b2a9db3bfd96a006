"""Human <-> mouse translation of signatures through a shipped ortholog table (never by changing case)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import logging
from typing import TYPE_CHECKING, Literal

import pandas as pd

from tmekit._constants import LOGGER_NAME
from tmekit.signatures._library import get, library_root

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tmekit.signatures._signature import Signature

__all__ = ["OrthologError", "orthologs", "translate", "translation_table"]

logger = logging.getLogger(LOGGER_NAME)

SPECIES = ("human", "mouse")
TIERS = ("reference", "supported")
#: Mouse genes whose expression depends on the strain: a translated set may hold them, but they read zero
#: in many syngeneic models. H2-Ea: the H2b and H2s haplotypes carry a deletion of the E alpha promoter
#: and first exon (Mathis et al. PNAS 1983;80:273-277, doi:10.1073/pnas.80.1.273), so C57BL/6 models
#: (MC38, B16, KPC/KPC-derived lines on B6) express no I-E; BALB/c models (CT26, 4T1; H2d) do.
STRAIN_CAVEATS = {
    "H2-Ea": "not expressed in H2b/H2s mice (C57BL/6: MC38, B16, B6 KPC lines; Mathis et al. PNAS 1983)",
    "H2-L": "present in H2d mice (BALB/c: CT26, 4T1) only",
    "H2-Eb2": "a second, weakly expressed E beta gene; the classical I-E beta chain is H2-Eb1 (see mhc2_mouse_curated)",
}


class OrthologError(ValueError):
    """A signature cannot be translated well enough (too many genes without an ortholog)."""


@functools.cache
def _table() -> pd.DataFrame:
    raw = (library_root() / "orthologs" / "human_mouse.tsv.gz").read_bytes()
    table = pd.read_csv(io.BytesIO(gzip.decompress(raw)), sep="\t", dtype=str, keep_default_na=False)
    table["n_hcop_databases"] = table["n_hcop_databases"].astype(int)
    table["n_sources"] = table["sources"].str.count(r"\|") + 1
    table["one2one"] = table["ensembl_homology_type"] == "ortholog_one2one"
    return table


def orthologs(*, tiers: Sequence[str] = TIERS) -> pd.DataFrame:
    """The shipped human-mouse ortholog pairs (HGNC, Ensembl Compara, HCOP; see signatures/orthologs/README.md).

    Columns: ``human_symbol``, ``mouse_symbol``, ``tier`` (``reference``: Ensembl one-to-one or HGNC's
    own link; ``supported``: Ensembl one-to-many or >= 2 HCOP databases), ``sources``,
    ``ensembl_homology_type``, ``n_hcop_databases``.

    Parameters
    ----------
    tiers
        The tiers to keep.

    Returns
    -------
    DataFrame, one row per human-mouse pair (the columns above).

    Examples
    --------
    >>> pairs = tk.signatures.orthologs()
    >>> pairs.loc[pairs["human_symbol"] == "CD8A", ["mouse_symbol", "tier"]].values.tolist()
    [['Cd8a', 'reference']]
    """
    unknown = sorted(set(tiers) - set(TIERS))
    if unknown:
        msg = f"Unknown ortholog tiers {unknown}; use {list(TIERS)} (weak single-database pairs are not shipped)."
        raise ValueError(msg)
    table = _table()
    return table[table["tier"].isin(list(tiers))].drop(columns=["n_sources", "one2one"]).reset_index(drop=True)


def _partners(genes: Sequence[str], to: str, tiers: Sequence[str]) -> dict[str, pd.DataFrame]:
    table = _table()
    table = table[table["tier"].isin(list(tiers))]
    src, dst = ("human_symbol", "mouse_symbol") if to == "mouse" else ("mouse_symbol", "human_symbol")
    hits = table[table[src].isin(list(genes))]
    return {gene: frame.rename(columns={src: "gene", dst: "partner"}) for gene, frame in hits.groupby(src)}


def translation_table(
    signature: Signature | str,
    *,
    to: Literal["mouse", "human"] = "mouse",
    tiers: Sequence[str] = TIERS,
    one_to_many: Literal["best", "all", "drop"] = "best",
) -> pd.DataFrame:
    """Gene-by-gene translation of a signature: what each gene maps to and why.

    One row per gene: ``direction``, ``translated`` (the partner genes kept, ``|``-joined; empty if none),
    ``kind`` (``one-to-one``; ``one-to-many`` with the chosen partner(s); ``no ortholog``;
    ``ambiguous family`` when several partners are equally supported and ``one_to_many`` is ``"best"``
    or ``"drop"``), ``candidates`` (every partner in the allowed tiers), ``tier`` and ``caveat``
    (strain-dependent mouse genes such as H2-Ea).

    Choosing among several partners (``one_to_many="best"``): the one Ensembl calls one-to-one, else the
    one with the most supporting sources, then the most HCOP databases; a remaining tie is reported and
    dropped (``"all"`` keeps every candidate, ``"drop"`` drops every one-to-many gene).

    Parameters
    ----------
    signature
        A library name or a :class:`Signature`.
    to
        The species to translate to.
    tiers
        Ortholog tiers allowed (:func:`orthologs`).
    one_to_many
        ``"best"``, ``"all"`` or ``"drop"`` (above).

    Returns
    -------
    DataFrame indexed by the signature's genes (the columns above).

    Examples
    --------
    >>> table = tk.signatures.translation_table("ifng6_ayers2017")
    >>> table.loc["HLA-DRA", ["translated", "kind"]].tolist()
    ['H2-Ea', 'one-to-one']
    """
    sig = get(signature) if isinstance(signature, str) else signature
    if to not in SPECIES:
        msg = f"Unknown target species {to!r}: tmekit translates between {list(SPECIES)}."
        raise ValueError(msg)
    if sig.species == to:
        msg = f"Signature {sig.name!r} is already {to}; nothing to translate."
        raise ValueError(msg)
    if sig.species not in SPECIES:
        msg = f"Signature {sig.name!r} has species {sig.species!r}; tmekit translates between {list(SPECIES)}."
        raise ValueError(msg)
    genes = [*sig.genes_up, *sig.genes_down]
    found = _partners(genes, to, tiers)
    rows = []
    for gene in genes:
        direction = "up" if gene in sig.genes_up else "down"
        cands = found.get(gene)
        if cands is None or cands.empty:
            rows.append({"gene": gene, "direction": direction, "translated": "", "kind": "no ortholog",
                         "candidates": "", "tier": "", "caveat": ""})  # fmt: skip
            continue
        ranked = cands.sort_values(["one2one", "n_sources", "n_hcop_databases"], ascending=False)
        key = ranked[["one2one", "n_sources", "n_hcop_databases"]].to_numpy()
        top = ranked[(key == key[0]).all(axis=1)]["partner"].tolist()
        everyone = ranked["partner"].tolist()
        if len(everyone) == 1:
            kept, kind = everyone, "one-to-one"
        elif one_to_many == "all":
            kept, kind = everyone, "one-to-many"
        elif one_to_many == "best" and len(top) == 1:
            kept, kind = top, "one-to-many"
        else:
            kept, kind = [], "ambiguous family" if one_to_many == "best" else "one-to-many (dropped)"
        tiers_kept = ranked.set_index("partner").loc[kept, "tier"].tolist() if kept else []
        caveat = "; ".join(f"{g}: {STRAIN_CAVEATS[g]}" for g in kept if g in STRAIN_CAVEATS)
        rows.append({"gene": gene, "direction": direction, "translated": "|".join(kept), "kind": kind,
                     "candidates": "|".join(everyone), "tier": "|".join(tiers_kept), "caveat": caveat})  # fmt: skip
    return pd.DataFrame(rows).set_index("gene")


def translate(
    signature: Signature | str,
    *,
    to: Literal["mouse", "human"] = "mouse",
    tiers: Sequence[str] = TIERS,
    one_to_many: Literal["best", "all", "drop"] = "best",
    min_overlap: float = 0.5,
) -> Signature:
    """A signature translated to the other species through well-supported orthologs.

    Genes without an ortholog in the allowed ``tiers`` are dropped and reported, never guessed by changing
    case; one-to-many genes follow ``one_to_many`` (see :func:`translation_table`, which lists every
    decision). Weights follow their gene; a partner reached from two genes is kept once (first gene).
    Raises :class:`OrthologError` when fewer than ``min_overlap`` of the genes translate.

    Parameters
    ----------
    signature
        A library name or a :class:`Signature`.
    to, tiers, one_to_many
        As for :func:`translation_table`.
    min_overlap
        The smallest share of the genes that must translate.

    Returns
    -------
    A new :class:`Signature` in the other species (its name, provenance and weights kept).

    Examples
    --------
    >>> tk.signatures.translate("ifng6_ayers2017").genes_up
    ('Ifng', 'Stat1', 'Cxcl9', 'Cxcl10', 'Ido1', 'H2-Ea')
    """
    return translate_with_table(signature, to=to, tiers=tiers, one_to_many=one_to_many, min_overlap=min_overlap)[0]


def translate_with_table(
    signature: Signature | str,
    *,
    to: Literal["mouse", "human"] = "mouse",
    tiers: Sequence[str] = TIERS,
    one_to_many: Literal["best", "all", "drop"] = "best",
    min_overlap: float = 0.5,
) -> tuple[Signature, pd.DataFrame]:
    """:func:`translate` and the :func:`translation_table` it was built from (one lookup for both)."""
    sig = get(signature) if isinstance(signature, str) else signature
    table = translation_table(sig, to=to, tiers=tiers, one_to_many=one_to_many)
    kept = table[table["translated"] != ""]
    share = len(kept) / max(len(table), 1)
    lost = table.index[table["translated"] == ""].tolist()
    if share < min_overlap:
        msg = (
            f"Only {len(kept)} of {len(table)} genes of {sig.name!r} have a well-supported {to} ortholog "
            f"({share:.0%} < min_overlap={min_overlap:.0%}); lost: {lost}. A {to} version of this signature "
            f"needs curating: look for a {to}-specific set (`tk.signatures.list()`), or pass your own genes."
        )
        raise OrthologError(msg)
    up: list[str] = []
    down: list[str] = []
    weights: dict[str, float] = {}
    for gene, row in kept.iterrows():
        for partner in row["translated"].split("|"):
            if partner in up or partner in down:
                continue
            (up if row["direction"] == "up" else down).append(partner)
            if sig.weights is not None and gene in sig.weights:
                weights[partner] = float(sig.weights[gene])
    note = f"Translated from {sig.species} ({sig.name}) with tmekit's ortholog table (tiers {list(tiers)})"
    if lost:
        note += f"; no ortholog: {lost}"
    ambiguous = table.index[table["kind"] == "ambiguous family"].tolist()
    if ambiguous:
        note += f"; ambiguous families dropped: {ambiguous}"
    caveats = [c for c in table["caveat"] if c]
    if caveats:
        note += "; strain caveats: " + "; ".join(caveats)
    logger.info("%s -> %s: %d of %d genes translated (no ortholog: %s)", sig.name, to, len(kept), len(table), lost)
    translated = dataclasses.replace(
        sig,
        genes_up=tuple(up),
        genes_down=tuple(down),
        weights=weights or None,
        species=to,
        aliases={},
        verified=f"translated ({sig.verified})",
        notes="; ".join(n for n in (sig.notes, note) if n),
    )
    return translated, table
