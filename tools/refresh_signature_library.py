"""Maintain the signature library: fill HGNC aliases, recompute counts and hashes, validate symbols.

The per-set tables in ``signatures/sets/`` and the curated fields of ``signatures/registry.tsv``
are the source of truth and are edited by hand. This script rewrites only the derived columns:

- ``aliases`` of every gene: HGNC previous symbols and alias symbols that are *safe* to resolve,
  following the order in shared/data/reference/README.md (a previous symbol that belongs to
  exactly one gene and is nobody's approved symbol; an alias that belongs to exactly one gene and
  is nobody's approved or previous symbol);
- ``n_up``, ``n_down``, ``weighted`` and ``sha256`` in the registry.

It fails if a gene is not an approved HGNC symbol, unless the set's registry ``notes`` name it
with the words "not an HGNC symbol".

    python tools/refresh_signature_library.py [--hgnc ../shared/data/reference/hgnc_symbols.tsv.gz] [--check]

``--check`` changes nothing and exits 1 if any derived column is out of date.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tmekit._constants import REGISTRY_COLUMNS, SET_COLUMNS  # noqa: E402
from tmekit.signatures._signature import content_hash  # noqa: E402

DEFAULT_HGNC = ROOT.parent / "shared" / "data" / "reference" / "hgnc_symbols.tsv.gz"


def safe_aliases(hgnc: pd.DataFrame) -> dict[str, list[str]]:
    """Approved symbol -> old names that resolve to it and to nothing else."""
    approved = set(hgnc["symbol"])
    prev_owner: dict[str, set[str]] = collections.defaultdict(set)
    alias_owner: dict[str, set[str]] = collections.defaultdict(set)
    for sym, prev, alias in hgnc[["symbol", "prev_symbols", "alias_symbols"]].itertuples(index=False):
        for p in filter(None, str(prev or "").split("|")):
            prev_owner[p].add(sym)
        for a in filter(None, str(alias or "").split("|")):
            alias_owner[a].add(sym)
    out: dict[str, list[str]] = collections.defaultdict(list)
    for name, owners in prev_owner.items():
        if len(owners) == 1 and name not in approved:
            out[next(iter(owners))].append(name)
    for name, owners in alias_owner.items():
        if len(owners) == 1 and name not in approved and name not in prev_owner:
            out[next(iter(owners))].append(name)
    return {k: sorted(set(v)) for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hgnc", type=Path, default=DEFAULT_HGNC)
    parser.add_argument("--check", action="store_true", help="only report out-of-date derived columns")
    args = parser.parse_args()
    hgnc = pd.read_csv(args.hgnc, sep="\t", dtype=str, keep_default_na=False)
    approved = set(hgnc["symbol"])
    aliases = safe_aliases(hgnc)
    orthologs = pd.read_csv(ROOT / "signatures" / "orthologs" / "human_mouse.tsv.gz", sep="\t", dtype=str)
    mouse_symbols = set(orthologs["mouse_symbol"])
    lib = ROOT / "signatures"
    reg = pd.read_csv(lib / "registry.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert tuple(reg.columns) == REGISTRY_COLUMNS, list(reg.columns)
    stale, errors = [], []
    for i, row in reg.iterrows():
        path = lib / "sets" / f"{row['name']}.tsv"
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        assert tuple(table.columns) == SET_COLUMNS, (path, list(table.columns))
        mouse = row["species"] == "mouse"
        known, what = (mouse_symbols, "a mouse symbol of the ortholog table") if mouse else (approved, "an HGNC symbol")
        for gene in table["gene"]:
            if gene not in known and f"{gene} is not {what}" not in row["notes"]:
                errors.append(f"{row['name']}: {gene} is not {what}")
        # HGNC aliases are human: mouse sets carry none
        table["aliases"] = ["" if mouse else "|".join(aliases.get(g, [])) for g in table["gene"]]
        weighted = "yes" if (table["weight"] != "").any() else "no"
        rows = [
            (g, d, float(w) if w else None)
            for g, d, w in table[["gene", "direction", "weight"]].itertuples(index=False)
        ]
        derived = {
            "n_up": str(int((table["direction"] == "up").sum())),
            "n_down": str(int((table["direction"] == "down").sum())),
            "weighted": weighted,
            "sha256": content_hash(rows),
        }
        new_text = table.to_csv(sep="\t", index=False, lineterminator="\n")
        if path.read_text() != new_text or any(row[k] != v for k, v in derived.items()):
            stale.append(row["name"])
        if not args.check:
            path.write_text(new_text)
            for k, v in derived.items():
                reg.loc[i, k] = v
    if errors:
        print("\n".join(errors))
        return 1
    if args.check:
        print(f"out of date: {stale}" if stale else "library is up to date")
        return 1 if stale else 0
    reg.to_csv(lib / "registry.tsv", sep="\t", index=False, lineterminator="\n")
    print(f"refreshed {len(reg)} signatures ({len(stale)} changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
