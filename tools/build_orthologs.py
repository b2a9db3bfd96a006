"""Build the shipped human-mouse ortholog table from ../shared/data/reference (run when that table changes).

    python tools/build_orthologs.py          # writes signatures/orthologs/human_mouse.tsv.gz
    python tools/build_orthologs.py --check  # rebuilds in memory and fails if the shipped file differs

Only sources with clear terms are shipped (see signatures/orthologs/README.md): HGNC's own MGI link
(`hgnc_mgd`, HGNC data, CC0), Ensembl Compara (`ensembl`, EMBL-EBI terms: attribution) and HCOP (`hcop`,
an HGNC service, CC0). Pairs known only from the MGI reports (no open licence) are left out, and so are
the table's `weak` pairs (one HCOP database only). Shipped tiers:

- ``reference``: Ensembl calls the pair one-to-one, or HGNC links the human gene to that mouse gene;
- ``supported``: Ensembl has the pair (one-to-many / many-to-many) or at least 2 HCOP databases predict it.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "reference" / "human_mouse_orthologs.tsv.gz"
TARGET = REPO / "signatures" / "orthologs" / "human_mouse.tsv.gz"
CLEAR = ("hgnc_mgd", "ensembl", "hcop")
COLUMNS = ["human_symbol", "mouse_symbol", "tier", "sources", "ensembl_homology_type", "n_hcop_databases"]


def build(source: Path) -> pd.DataFrame:
    raw = pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False)
    sources = raw["sources"].str.split("|")
    clear = sources.map(lambda s: [x for x in CLEAR if x in s])
    n_hcop = raw["hcop_support"].map(lambda s: len(s.split("|")) if s else 0)
    one2one = raw["ensembl_homology_type"] == "ortholog_one2one"
    reference = one2one | clear.map(lambda s: "hgnc_mgd" in s)
    supported = ~reference & (clear.map(lambda s: "ensembl" in s) | (n_hcop >= 2))
    keep = (raw["tier"] != "weak") & (reference | supported) & (clear.map(len) > 0)
    out = pd.DataFrame({
        "human_symbol": raw["human_symbol"],
        "mouse_symbol": raw["mouse_symbol"],
        "tier": reference.map({True: "reference", False: "supported"}),
        "sources": clear.map("|".join),
        "ensembl_homology_type": raw["ensembl_homology_type"],
        "n_hcop_databases": n_hcop,
    })[keep]  # fmt: skip
    return out.sort_values(["human_symbol", "mouse_symbol"]).reset_index(drop=True)[COLUMNS]


def serialise(table: pd.DataFrame) -> bytes:
    text = table.to_csv(sep="\t", index=False, lineterminator="\n")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:  # mtime=0: byte-identical rebuilds
        f.write(text.encode())
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    table = build(args.source)
    data = serialise(table)
    if args.check:
        same = TARGET.exists() and gzip.decompress(TARGET.read_bytes()) == gzip.decompress(data)
        print("shipped ortholog table is up to date" if same else f"{TARGET} differs from a rebuild")
        return 0 if same else 1
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    tmp = TARGET.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(TARGET)
    counts = table["tier"].value_counts().to_dict()
    print(f"wrote {TARGET} ({len(table):,} pairs: {counts}; {TARGET.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
