"""Build the default spot reference shipped in ``src/tmekit/sp/data`` from the bundled Wu et al. 2021 tumour.

    python tools/build_spot_reference.py            # writes src/tmekit/sp/data/wu2021_cid4465_spot_reference.json

Wu et al. 2021 CID4465 (raw counts, author cell types) merged into nine reference types, profiles over the
cell-identity signature genes (``tk.sp.spot_reference``). ``tests/sp/test_deconvolution.py`` checks that the
shipped table is exactly what this script builds.
"""

from __future__ import annotations

import json
from pathlib import Path

import tmekit as tk

OUT = Path(__file__).resolve().parents[1] / "src" / "tmekit" / "sp" / "data" / "wu2021_cid4465_spot_reference.json"

#: Wu et al. 2021 CID4465 cell types (author labels) merged into the default reference's types.
_WU_TYPES = {
    "Cancer Epithelial": "Epithelial",
    "Normal Epithelial": "Epithelial",
    "T cells CD8+": "CD8 T",
    "T cells CD4+": "CD4 T",
    "Cycling T-cells": "CD4 T",
    "NKT cells": "CD4 T",
    "NK cells": "CD4 T",
    "B-cells": "B cell",
    "Plasmablasts": "Plasma",
    "Myeloid": "Myeloid",
    "CAFs": "Fibroblast",
    "Endothelial": "Endothelial",
    "PVL": "Perivascular",
}
_WU_GROUPS = {
    "tumor": ["Epithelial"],
    "immune": ["CD8 T", "CD4 T", "B cell", "Plasma", "Myeloid"],
    "cd8": ["CD8 T"],
    "t": ["CD8 T", "CD4 T"],
}


def build() -> tk.sp.SpotReference:
    wu = tk.datasets.wu2021_cid4465()
    minor = wu.obs["cell_type_minor"].astype(str)
    major = wu.obs["cell_type_major"].astype(str)
    wu.obs["reference_type"] = [_WU_TYPES.get(m, _WU_TYPES.get(M)) for m, M in zip(minor, major, strict=True)]
    return tk.sp.spot_reference(
        wu, min_cells=10,
        cell_types={"key": "reference_type", "tumor": _WU_GROUPS["tumor"], "immune": _WU_GROUPS["immune"],
                    "cd8": _WU_GROUPS["cd8"], "t": _WU_GROUPS["t"]},
        source="Wu SZ, et al. Nat Genet 2021;53:1334-1347 (CID4465 TNBC scRNA-seq, author cell types), "
        "cell-identity signature genes",
    )  # fmt: skip


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    tk.io.atomic_write_text(OUT, json.dumps(build().to_dict(), indent=1) + "\n", overwrite=True)
    print(f"wrote {OUT}")
