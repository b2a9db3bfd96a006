"""Spatial analysis: tumour compartments, per-sample evidence (tiles, spots), spot deconvolution."""

from __future__ import annotations

from tmekit.sp._deconvolution import SpotReference, default_spot_reference, spot_content, spot_reference
from tmekit.sp._metrics import (
    CONTACT_METRICS,
    CONTACT_RADIUS_UM,
    CONTACTS,
    ROW_LABELS,
    TOUCHING_UM,
    infiltration,
    tile_metrics,
    tile_table,
)
from tmekit.sp._pseudo_visium import pseudo_visium
from tmekit.sp._regions import COMPARTMENTS, compartments, margin_halfwidth
from tmekit.sp._spot_metrics import spot_metrics, spot_table
from tmekit.sp._spotdata import is_spot_data

__all__ = [
    "COMPARTMENTS",
    "CONTACTS",
    "CONTACT_METRICS",
    "CONTACT_RADIUS_UM",
    "ROW_LABELS",
    "TOUCHING_UM",
    "SpotReference",
    "compartments",
    "default_spot_reference",
    "infiltration",
    "is_spot_data",
    "margin_halfwidth",
    "pseudo_visium",
    "spot_content",
    "spot_metrics",
    "spot_reference",
    "spot_table",
    "tile_metrics",
    "tile_table",
]
