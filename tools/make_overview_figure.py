"""Draw the overview figure of the README and the docs' front page: docs/_static/tmekit_overview.png.

    python tools/make_overview_figure.py

From the MIBI data shipped with tmekit (Keren et al. 2018, four tumours): one tumour's compartments, and every
tumour's CD8 densities in core and margin against the ``cd8_density`` thresholds. Run it again when the plots
change; the image is committed because the README cannot build it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

import tmekit as tk

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "tmekit_overview.png"


def main() -> None:
    adata = tk.datasets.keren2018_mibi()
    tk.tl.classify(adata, rules="cd8_density", library_key="patient_id", microns_per_unit=800 / 2048)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4))
    tk.pl.compartments(adata, "3", ax=axes[0], point_size=2.0)
    tk.pl.infiltration(tk.get.phenotypes(adata), ax=axes[1])
    fig.tight_layout()
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
