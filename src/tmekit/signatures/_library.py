"""The shipped signature library: registry, per-set tables, lookup by name."""

from __future__ import annotations

import difflib
import functools
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tmekit._constants import HEADLINE_SIGNATURES, REGISTRY_COLUMNS, SET_COLUMNS
from tmekit.signatures._signature import Signature

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["from_dict", "get", "headline", "library_root", "list_signatures", "load_library", "resolve"]


def library_root() -> Traversable:
    """Folder of the signature library.

    In an installed wheel the library is ``tmekit/_signatures`` (hatch ``force-include``). In a
    development checkout (editable install) it is the repository's top-level ``signatures/``.

    Returns
    -------
    The folder (a :class:`~importlib.resources.abc.Traversable`), holding ``registry.tsv`` and ``sets/``.

    Examples
    --------
    >>> (tk.signatures.library_root() / "registry.tsv").is_file()
    True
    """
    packaged = importlib.resources.files("tmekit") / "_signatures"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "signatures"
    if (checkout / "registry.tsv").is_file():
        return checkout
    msg = (
        "tmekit's signature library was not found (neither tmekit/_signatures in the installed package "
        f"nor {checkout}). Reinstall tmekit: `pip install --force-reinstall tmekit`."
    )
    raise FileNotFoundError(msg)


def _read_tsv(resource: Traversable) -> pd.DataFrame:
    with resource.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)


def read_registry() -> pd.DataFrame:
    """The registry table exactly as shipped (all columns as strings)."""
    reg = _read_tsv(library_root() / "registry.tsv")
    if tuple(reg.columns) != REGISTRY_COLUMNS:
        msg = f"Corrupt signature registry: columns {list(reg.columns)}, expected {list(REGISTRY_COLUMNS)}."
        raise ValueError(msg)
    return reg


def read_set_table(name: str) -> pd.DataFrame:
    """The long-form table of one library set (``gene``, ``direction``, ``weight``, ``aliases``)."""
    table = _read_tsv(library_root() / "sets" / f"{name}.tsv")
    if tuple(table.columns) != SET_COLUMNS:
        msg = f"Corrupt table for signature {name!r}: columns {list(table.columns)}, expected {list(SET_COLUMNS)}."
        raise ValueError(msg)
    bad = sorted(set(table["direction"]) - {"up", "down"})
    if bad:
        msg = f"Corrupt table for signature {name!r}: direction must be 'up' or 'down', found {bad}."
        raise ValueError(msg)
    return table


def _signature_from_row(row: Mapping[str, str]) -> Signature:
    table = read_set_table(row["name"])
    weighted = row["weighted"] == "yes"
    weights = {g: float(w) for g, w in zip(table["gene"], table["weight"], strict=True)} if weighted else None
    aliases = {g: tuple(a.split("|")) for g, a in zip(table["gene"], table["aliases"], strict=True) if a}
    return Signature(
        name=row["name"],
        genes_up=tuple(table.loc[table["direction"] == "up", "gene"]),
        genes_down=tuple(table.loc[table["direction"] == "down", "gene"]),
        weights=weights,
        description=row["description"],
        category=row["category"],
        species=row["species"],
        gene_id_type=row["gene_id_type"],
        citation=row["citation"],
        doi=row["doi"],
        pmid=row["pmid"],
        version=row["version"],
        aliases=aliases,
        verified=row["verified"],
        verified_against=row["verified_against"],
        notes=row["notes"],
    )


@functools.cache
def load_library() -> dict[str, Signature]:
    """Every library signature by name (read once, then cached; `Signature` objects are immutable)."""
    return {row["name"]: _signature_from_row(row) for row in read_registry().to_dict("records")}


def list_signatures(*, category: str | None = None) -> pd.DataFrame:
    """Table of the library: one row per signature.

    Parameters
    ----------
    category
        Keep only this category (e.g. ``"hypoxia"``, ``"cell_identity"``).

    Returns
    -------
    DataFrame indexed by ``name`` with ``title``, ``category``, ``n_genes``, ``n_up``, ``n_down``,
    ``weighted``, ``species``, ``citation``, ``doi``, ``pmid``, ``version``, ``verified``,
    ``headline`` (the user-facing module name for the five headline sets, else empty).

    Examples
    --------
    >>> library = tk.signatures.list()
    >>> library.loc["ifng6_ayers2017", ["doi", "verified"]].tolist()
    ['10.1172/JCI91190', 'verified-secondary']
    >>> tk.signatures.list(category="hypoxia").index.tolist()
    ['hypoxia_buffa2010', 'hypoxia_ragnum2015']
    """
    reg = read_registry()
    if category is not None:
        known = sorted(set(reg["category"]))
        if category not in known:
            msg = f"Unknown signature category {category!r}. Known categories: {known}."
            raise ValueError(msg)
        reg = reg[reg["category"] == category]
    out = reg.assign(
        n_up=reg["n_up"].astype(int),
        n_down=reg["n_down"].astype(int),
        weighted=reg["weighted"] == "yes",
    )
    out["n_genes"] = out["n_up"] + out["n_down"]
    module_of = {v: k for k, v in HEADLINE_SIGNATURES.items()}
    out["headline"] = out["name"].map(module_of).fillna("")
    cols = ["name", "title", "category", "n_genes", "n_up", "n_down", "weighted", "species", "citation", "doi"]
    cols += ["pmid", "version", "verified", "headline"]
    return out[cols].set_index("name")


def get(name: str) -> Signature:
    """One library signature by name (case-insensitive), or a headline module name.

    Parameters
    ----------
    name
        A library name (``ifng6_ayers2017``) or a headline module (``"IFN-gamma pathway"``).

    Returns
    -------
    The :class:`Signature`, with its genes and provenance.

    Raises
    ------
    KeyError
        If no set has that name; the message lists the closest names.

    Examples
    --------
    >>> sig = tk.signatures.get("IFN-gamma pathway")
    >>> sig.name, sig.genes_up, sig.doi
    ('ifng6_ayers2017', ('IFNG', 'STAT1', 'CXCL9', 'CXCL10', 'IDO1', 'HLA-DRA'), '10.1172/JCI91190')
    """
    lib = load_library()
    if name in lib:
        return lib[name]
    if name in HEADLINE_SIGNATURES:
        return lib[HEADLINE_SIGNATURES[name]]
    lowered = {k.lower(): k for k in (*lib, *HEADLINE_SIGNATURES)}
    if str(name).lower() in lowered:
        return get(lowered[str(name).lower()])
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=5, cutoff=0.4)
    hint = f" Closest matches: {[lowered[c] for c in close]}." if close else ""
    msg = f"No signature named {name!r} in the tmekit library.{hint} See `tk.signatures.list()` for all names."
    raise KeyError(msg)


def headline() -> list[Signature]:
    """The five modules users ask for by name (exhaustion, M2 TAM, CXCL13+ T, IFN-gamma, hypoxia).

    Returns
    -------
    The five library signatures behind the module names.

    Examples
    --------
    >>> [s.name for s in tk.signatures.headline()]
    ['exhaustion_core_curated', 'm2_tam_bagaev2021', 'cxcl13_t_zheng2021', 'ifng6_ayers2017', 'hypoxia_buffa2010']
    """
    return [get(name) for name in HEADLINE_SIGNATURES.values()]


def _one_from_spec(name: str, spec: Any) -> Signature:
    if isinstance(spec, Signature):
        return spec
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"up", "down", "weights", "description", "citation", "doi", "pmid", "species"})
        if unknown:
            msg = (
                f"Signature {name!r}: unknown keys {unknown}. Use 'up', 'down', 'weights', 'description', "
                "'citation', 'doi', 'pmid', 'species'."
            )
            raise ValueError(msg)
        return Signature(
            name=name,
            genes_up=tuple(spec.get("up", ())),
            genes_down=tuple(spec.get("down", ())),
            weights=spec.get("weights"),
            description=spec.get("description", ""),
            citation=spec.get("citation", ""),
            doi=spec.get("doi", ""),
            pmid=str(spec.get("pmid", "")),
            species=spec.get("species", "human"),
        )
    if isinstance(spec, str) or not isinstance(spec, Iterable):
        msg = (
            f"Signature {name!r}: expected a list of genes or a dict with 'up'/'down'/'weights', "
            f"got {type(spec).__name__} {spec!r}."
        )
        raise TypeError(msg)
    return Signature(name=name, genes_up=tuple(spec))


def from_dict(sets: Mapping[str, Any]) -> list[Signature]:
    """User-defined signatures from a dict.

    Parameters
    ----------
    sets
        ``{name: [gene, ...]}`` for up-only sets, or
        ``{name: {"up": [...], "down": [...], "weights": {gene: w}, "citation": ...}}``.

    Returns
    -------
    One :class:`Signature` per entry (``version="user"``), in the order given.

    Examples
    --------
    >>> import tmekit as tk
    >>> sigs = tk.signatures.from_dict({"my_tcell": ["CD3D", "CD3E", "CD2"]})
    >>> sigs[0].genes_up
    ('CD3D', 'CD3E', 'CD2')
    """
    if not isinstance(sets, Mapping):
        msg = f"`sets` must be a dict of name -> genes, got {type(sets).__name__}."
        raise TypeError(msg)
    return [_one_from_spec(str(name), spec) for name, spec in sets.items()]


def resolve(signatures: str | Signature | Mapping[str, Any] | Sequence[str | Signature] | Path) -> list[Signature]:
    """Turn what a user passes as ``signatures`` into a list of `Signature` objects.

    Accepts a library name, a `Signature`, a list of either, a dict (see :func:`from_dict`), or a
    path to a ``.gmt`` file. Names must be unique in the result.

    Parameters
    ----------
    signatures
        Library names (or headline module names), `Signature` objects, a dict or a GMT path.

    Returns
    -------
    The signatures, in the order given.

    Examples
    --------
    >>> [s.name for s in tk.signatures.resolve(["ifng6_ayers2017", "Hypoxia"])]
    ['ifng6_ayers2017', 'hypoxia_buffa2010']
    """
    from tmekit.signatures._gmt import read_gmt  # local: _gmt imports this module

    if isinstance(signatures, Path) or (isinstance(signatures, str) and signatures.lower().endswith(".gmt")):
        out = read_gmt(signatures)
    elif isinstance(signatures, Signature):
        out = [signatures]
    elif isinstance(signatures, str):
        out = [get(signatures)]
    elif isinstance(signatures, Mapping):
        out = from_dict(signatures)
    elif isinstance(signatures, Iterable):
        out = [s if isinstance(s, Signature) else get(s) for s in signatures]
    else:
        msg = f"`signatures` must be names, Signature objects, a dict or a .gmt path; got {type(signatures).__name__}."
        raise TypeError(msg)
    if not out:
        msg = "No signatures given: pass at least one name, Signature, dict entry or GMT set."
        raise ValueError(msg)
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        msg = f"Signature names must be unique; these appear more than once: {dup}."
        raise ValueError(msg)
    return out
