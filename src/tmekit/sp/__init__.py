"""Spatial analysis: tumour compartments and infiltration metrics, per sample."""

from __future__ import annotations

from tmekit.sp._compartments import COMPARTMENTS, compartments, margin_halfwidth
from tmekit.sp._infiltration import infiltration

__all__ = ["COMPARTMENTS", "compartments", "infiltration", "margin_halfwidth"]
