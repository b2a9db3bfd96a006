"""tmekit: tumour-microenvironment signature scoring and immune-phenotype classification on AnnData."""

from __future__ import annotations

import logging

from tmekit import datasets, get, io, pl, pp, report, signatures, sp, tl
from tmekit._version import __version__
from tmekit._warnings import (
    IgnoredOptionWarning,
    InputWarning,
    MissingGenesWarning,
    TmekitWarning,
    UnmatchedIdsWarning,
    WeightsDroppedWarning,
)

logging.getLogger("tmekit").addHandler(logging.NullHandler())

__all__ = [
    "IgnoredOptionWarning",
    "InputWarning",
    "MissingGenesWarning",
    "TmekitWarning",
    "UnmatchedIdsWarning",
    "WeightsDroppedWarning",
    "__version__",
    "datasets",
    "get",
    "io",
    "pl",
    "pp",
    "report",
    "signatures",
    "sp",
    "tl",
]
