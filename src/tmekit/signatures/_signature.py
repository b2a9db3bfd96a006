"""The `Signature` record: one gene set with directions, optional weights and provenance."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["Signature", "content_hash"]


def _format_weight(weight: float | None) -> str:
    return "" if weight is None else repr(float(weight))


def content_hash(rows: Iterable[tuple[str, str, float | None]]) -> str:
    """SHA-256 of a signature's content: its (gene, direction, weight) rows, order-independent.

    The hash ignores gene order, aliases and metadata, so it changes exactly when the genes,
    their directions or their weights change.
    """
    lines = sorted(f"{gene}\t{direction}\t{_format_weight(weight)}\n" for gene, direction, weight in rows)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _as_gene_tuple(genes: Iterable[str] | str, what: str, name: str) -> tuple[str, ...]:
    if isinstance(genes, str):
        msg = f"Signature {name!r}: `{what}` must be a list of gene names, got the string {genes!r}."
        raise TypeError(msg)
    out = tuple(str(g).strip() for g in genes)
    if any(not g for g in out):
        msg = f"Signature {name!r}: `{what}` contains an empty gene name."
        raise ValueError(msg)
    dup = sorted({g for g in out if out.count(g) > 1})
    if dup:
        msg = f"Signature {name!r}: `{what}` lists these genes more than once: {dup}."
        raise ValueError(msg)
    return out


@dataclass(frozen=True, eq=False)
class Signature:
    """A gene signature with provenance.

    Parameters
    ----------
    name
        Unique name (library sets use ``<topic>_<firstauthor><year>``).
    genes_up
        Genes expected to be high when the programme is active.
    genes_down
        Genes expected to be low (scored against the up genes where the method allows).
    weights
        Optional signed coefficients per gene, as published (e.g. the T-cell-inflamed GEP). A gene
        in ``genes_down`` has a negative coefficient.
    description, category, species, gene_id_type
        What the set measures, its module, ``"human"``/``"mouse"``, and ``"symbol"``/``"ensembl"``.
    citation, doi, pmid
        Where the list was published.
    version
        Version of the set in the tmekit library (``"user"`` for user-defined sets).
    aliases
        Previous/alias symbols of each gene (current symbol -> old names), used to diagnose and
        resolve data that still use old names.
    verified, verified_against
        What was checked and against which source (library sets only).
    """

    name: str
    genes_up: tuple[str, ...]
    genes_down: tuple[str, ...] = ()
    weights: Mapping[str, float] | None = None
    description: str = ""
    category: str = "user"
    species: str = "human"
    gene_id_type: str = "symbol"
    citation: str = ""
    doi: str = ""
    pmid: str = ""
    version: str = "user"
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    verified: str = "user-defined"
    verified_against: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        name = str(self.name).strip()
        if not name:
            msg = "A signature needs a non-empty `name`."
            raise ValueError(msg)
        object.__setattr__(self, "name", name)
        up = _as_gene_tuple(self.genes_up, "genes_up", name)
        down = _as_gene_tuple(self.genes_down, "genes_down", name)
        if not up and not down:
            msg = f"Signature {name!r} has no genes. Give at least one gene in `genes_up`."
            raise ValueError(msg)
        both = sorted(set(up) & set(down))
        if both:
            msg = f"Signature {name!r}: genes listed both up and down: {both}."
            raise ValueError(msg)
        object.__setattr__(self, "genes_up", up)
        object.__setattr__(self, "genes_down", down)
        if self.weights is not None:
            object.__setattr__(self, "weights", MappingProxyType(self._checked_weights(self.weights)))
        aliases = {str(k): tuple(v) for k, v in dict(self.aliases).items() if v}
        object.__setattr__(self, "aliases", MappingProxyType(aliases))

    def _checked_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        genes = set(self.genes)
        unknown = sorted(set(weights) - genes)
        missing = sorted(genes - set(weights))
        if unknown or missing:
            msg = (
                f"Signature {self.name!r}: `weights` must give one weight per gene; "
                f"weights for genes not in the set: {unknown}; genes without a weight: {missing}."
            )
            raise ValueError(msg)
        out: dict[str, float] = {}
        for gene in self.genes:
            w = float(weights[gene])
            if not math.isfinite(w):
                msg = f"Signature {self.name!r}: weight of {gene!r} is {w}, which is not a finite number."
                raise ValueError(msg)
            wrong_sign = (gene in self.genes_down and w > 0) or (gene in self.genes_up and w < 0)
            if wrong_sign:
                msg = (
                    f"Signature {self.name!r}: {gene!r} has weight {w} but is listed as "
                    f"{'down' if gene in self.genes_down else 'up'}; down genes carry negative weights."
                )
                raise ValueError(msg)
            out[gene] = w
        return out

    # ------------------------------------------------------------------ derived views
    @property
    def genes(self) -> tuple[str, ...]:
        """All genes, up first then down."""
        return self.genes_up + self.genes_down

    @property
    def n_genes(self) -> int:
        """Number of genes (up + down)."""
        return len(self.genes_up) + len(self.genes_down)

    @property
    def is_weighted(self) -> bool:
        """Whether the set carries per-gene weights."""
        return self.weights is not None

    @property
    def sha256(self) -> str:
        """Content hash of (gene, direction, weight); see :func:`content_hash`."""
        return content_hash(self._rows())

    def _rows(self) -> list[tuple[str, str, float | None]]:
        w = self.weights or {}
        return [(g, "up", w.get(g)) for g in self.genes_up] + [(g, "down", w.get(g)) for g in self.genes_down]

    def to_frame(self) -> pd.DataFrame:
        """Long-form table: one row per gene with ``gene``, ``direction``, ``weight``, ``aliases``."""
        rows = [
            {"gene": g, "direction": d, "weight": w, "aliases": "|".join(self.aliases.get(g, ()))}
            for g, d, w in self._rows()
        ]
        return pd.DataFrame(rows, columns=["gene", "direction", "weight", "aliases"])

    def provenance(self) -> dict[str, Any]:
        """Provenance fields as a plain dict (what `uns` records for a scored signature)."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "citation": self.citation,
            "doi": self.doi,
            "pmid": self.pmid,
            "species": self.species,
            "verified": self.verified,
        }

    # ------------------------------------------------------------------ comparisons
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signature):
            return NotImplemented
        return self.name == other.name and self.sha256 == other.sha256

    def __hash__(self) -> int:
        return hash((self.name, self.sha256))

    def __repr__(self) -> str:
        down = f", {len(self.genes_down)} down" if self.genes_down else ""
        weighted = ", weighted" if self.is_weighted else ""
        cite = f", {self.citation.split('.')[0]}" if self.citation else ""
        return f"Signature({self.name!r}: {len(self.genes_up)} up{down}{weighted}{cite})"
