"""tmekit: tumour-microenvironment signature scoring and immune-phenotype classification on AnnData."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from tmekit import datasets, io, pl, pp, report, signatures, sp, tl
from tmekit._warnings import InputWarning, MissingGenesWarning, TmekitWarning, WeightsDroppedWarning

try:
    __version__ = version("tmekit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"

logging.getLogger("tmekit").addHandler(logging.NullHandler())

__all__ = [
    "InputWarning",
    "MissingGenesWarning",
    "TmekitWarning",
    "WeightsDroppedWarning",
    "__version__",
    "datasets",
    "io",
    "pl",
    "pp",
    "report",
    "signatures",
    "sp",
    "tl",
]
