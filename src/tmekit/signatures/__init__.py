"""Curated, cited gene signatures: the library shipped with tmekit and user-defined sets.

Examples
--------
>>> import tmekit as tk
>>> tk.signatures.get("ifng6_ayers2017").genes_up
('IFNG', 'STAT1', 'CXCL9', 'CXCL10', 'IDO1', 'HLA-DRA')
"""

from __future__ import annotations

from tmekit.signatures._gmt import read_gmt, write_gmt
from tmekit.signatures._library import from_dict, get, headline, library_root, resolve
from tmekit.signatures._library import list_signatures as list
from tmekit.signatures._orthologs import OrthologError, orthologs, translate, translation_table
from tmekit.signatures._signature import Signature

__all__ = [
    "OrthologError",
    "Signature",
    "from_dict",
    "get",
    "headline",
    "library_root",
    "list",
    "orthologs",
    "read_gmt",
    "resolve",
    "translate",
    "translation_table",
    "write_gmt",
]
