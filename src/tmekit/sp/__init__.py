"""Spatial analysis: tumour compartments and infiltration metrics, per sample."""

from __future__ import annotations

from tmekit.sp._compartments import COMPARTMENTS, compartments, margin_halfwidth
from tmekit.sp._infiltration import infiltration
from tmekit.sp._spots import SpotReference, default_spot_reference, is_spot_data, spot_content, spot_reference

__all__ = [
    "COMPARTMENTS",
    "SpotReference",
    "compartments",
    "default_spot_reference",
    "infiltration",
    "is_spot_data",
    "margin_halfwidth",
    "spot_content",
    "spot_reference",
]
