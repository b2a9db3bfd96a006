"""Small real datasets shipped inside tmekit (no network needed), and known-answer synthetic data."""

from __future__ import annotations

from tmekit.datasets._mixtures import mix_samples
from tmekit.datasets._real import imvigor210_bulk, imvigor210_clinical, keren2018_labels, keren2018_mibi, wu2021_cid4465
from tmekit.datasets._spots import synthetic_spots
from tmekit.datasets._synthetic import SYNTHETIC_DENSITIES, calibration_sweep, synthetic_labels, synthetic_tissue

__all__ = [
    "SYNTHETIC_DENSITIES",
    "calibration_sweep",
    "imvigor210_bulk",
    "imvigor210_clinical",
    "keren2018_labels",
    "keren2018_mibi",
    "mix_samples",
    "synthetic_labels",
    "synthetic_spots",
    "synthetic_tissue",
    "wu2021_cid4465",
]
