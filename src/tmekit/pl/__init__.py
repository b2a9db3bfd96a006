"""Plots: each takes ``ax=`` and returns the figure; none shows or saves by itself."""

from __future__ import annotations

from tmekit.pl._spatial import compartments, infiltration

__all__ = ["compartments", "infiltration"]
