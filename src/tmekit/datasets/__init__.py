"""Small real datasets shipped inside tmekit (no network needed), and known-answer synthetic data."""

from __future__ import annotations

from tmekit.datasets._mixtures import mix_samples
from tmekit.datasets._real import imvigor210_bulk, keren2018_mibi, wu2021_cid4465
from tmekit.datasets._spots import pseudo_visium, synthetic_spots
from tmekit.datasets._synthetic import PHENOTYPES, synthetic_tissue

__all__ = [
    "PHENOTYPES",
    "imvigor210_bulk",
    "keren2018_mibi",
    "mix_samples",
    "pseudo_visium",
    "synthetic_spots",
    "synthetic_tissue",
    "wu2021_cid4465",
]
