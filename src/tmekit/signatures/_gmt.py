"""GMT import/export (the MSigDB text format: name, description, genes; tab-separated)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from tmekit._warnings import WeightsDroppedWarning
from tmekit.io import atomic_write_text
from tmekit.signatures._signature import Signature

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["read_gmt", "write_gmt"]

# UCell's convention for signed sets in plain gene lists: a trailing "-" marks a down gene and an
# optional trailing "+" an up gene. No approved HGNC or MGI symbol ends in either character.
_DOWN, _UP = "-", "+"


def read_gmt(path: str | Path) -> list[Signature]:
    """Read gene sets from a GMT file.

    Each line is ``name<TAB>description<TAB>gene1<TAB>gene2...``. A gene written with a trailing
    ``-`` (UCell's convention) is a down gene; a trailing ``+`` marks an up gene explicitly.

    Parameters
    ----------
    path
        Path to the ``.gmt`` file.

    Returns
    -------
    One `Signature` per line, with ``category="user"`` and the description from the file.

    Examples
    --------
    >>> _ = tk.signatures.write_gmt(tk.signatures.headline(), "headline.gmt")
    >>> [s.name for s in tk.signatures.read_gmt("headline.gmt")][:2]
    ['exhaustion_core_curated', 'm2_tam_bagaev2021']
    """
    path = Path(path)
    if not path.is_file():
        msg = f"GMT file {str(path)!r} does not exist. Check the path (relative paths start at {Path.cwd()})."
        raise FileNotFoundError(msg)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        msg = f"{str(path)!r} is not a text GMT file (it is not UTF-8 text). Pass a tab-separated .gmt file."
        raise ValueError(msg) from err
    out: list[Signature] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        genes = [g for g in fields[2:] if g]
        if len(fields) < 3 or not genes:
            msg = (
                f"{path}:{lineno}: a GMT line needs a name, a description and at least one gene, separated by "
                f"TABs; got {len(fields)} tab-separated field(s). Spaces are not separators in GMT."
            )
            raise ValueError(msg)
        name = fields[0]
        if name in seen:
            msg = f"{path}:{lineno}: gene set {name!r} appears twice; GMT set names must be unique."
            raise ValueError(msg)
        seen.add(name)
        up = [g[:-1] if g.endswith(_UP) else g for g in genes if not g.endswith(_DOWN)]
        down = [g[:-1] for g in genes if g.endswith(_DOWN)]
        try:
            out.append(Signature(name=name, genes_up=up, genes_down=down, description=fields[1], version="gmt"))
        except ValueError as err:
            msg = f"{path}:{lineno}: {err}"
            raise ValueError(msg) from err
    if not out:
        msg = f"{str(path)!r} contains no gene sets."
        raise ValueError(msg)
    return out


def write_gmt(signatures: Iterable[Signature], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write signatures to a GMT file (atomically: a temporary file, then a rename).

    Down genes are written with a trailing ``-`` (UCell's convention). GMT cannot hold weights:
    weighted sets are written as plain gene lists with a `WeightsDroppedWarning`.

    Parameters
    ----------
    signatures
        `Signature` objects (e.g. ``[tk.signatures.get(n) for n in names]``).
    path
        Output path.
    overwrite
        Replace an existing file.

    Returns
    -------
    The path written.

    Examples
    --------
    >>> mine = tk.signatures.from_dict({"my_signed": {"up": ["CXCL13"], "down": ["TCF7"]}})
    >>> path = tk.signatures.write_gmt(mine, "mine.gmt")
    >>> print(path.read_text(), end="")  # tab-separated: name, description, genes (down genes end in -)
    my_signed  my_signed  CXCL13  TCF7-
    """
    from tmekit.signatures._library import resolve

    sigs = resolve(list(signatures))
    lines = []
    for sig in sigs:
        description = sig.citation or sig.description or sig.name
        genes = [*sig.genes_up, *(f"{g}{_DOWN}" for g in sig.genes_down)]
        lines.append("\t".join([sig.name, description.replace("\t", " "), *genes]))
    written = atomic_write_text(Path(path), "\n".join(lines) + "\n", overwrite=overwrite)
    weighted = [sig.name for sig in sigs if sig.is_weighted]
    if weighted:
        msg = f"GMT cannot store per-gene weights; only the genes of {weighted} were written."
        warnings.warn(msg, WeightsDroppedWarning, stacklevel=2)
    return written
