"""The installed tmekit's version, read once from its package metadata (the one place that knows it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    #: The version of the installed tmekit (from its package metadata; recorded in every result's ``uns``).
    __version__ = version("tmekit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"
