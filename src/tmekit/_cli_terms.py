"""API advice said in command-line terms: the cell-type roles of ``tk.pp.cell_types`` as ``tmekit`` options."""

from __future__ import annotations

import re

from tmekit._roles import DECLARE_HINT

__all__ = ["ROLE_OPTIONS", "roles_in_cli_terms"]

#: The command-line options that give each cell-type role (``tk.pp.cell_types`` keys). PD-L1 has two spellings:
#: an obs column / channel (``--pdl1-key``) or the PD-L1+ cell types (``--pdl1-labels``, the list form).
ROLE_OPTIONS = {"key": "--cell-type-key", "tumor": "--tumor-labels", "immune": "--immune-labels", "cd8": "--cd8-labels",
                "t": "--t-labels", "pdl1": "--pdl1-key", "pdl1_threshold": "--pdl1-threshold"}  # fmt: skip
_SPELLED = {"pdl1": "`--pdl1-key` (a column or channel) or `--pdl1-labels` (PD-L1+ cell types)"}


def _option(role: str) -> str:
    return _SPELLED.get(role, f"`{ROLE_OPTIONS.get(role, role)}`")


def roles_in_cli_terms(message: str) -> str:
    """Cell-type roles as options: "`tk.pp.cell_types(adata, ..., t=[...])` or `cell_types={...}`" -> "`--t-labels`"."""
    message = message.replace(
        DECLARE_HINT,
        "Pass them as --cell-type-key, --tumor-labels, --immune-labels, --cd8-labels (and --t-labels), or let tmekit "
        "type the cells from markers with --annotate (`tmekit annotate` declares its labels in the file).",
    )
    message = re.sub(r" \(of `tk\.pp\.cell_types`, or `cell_types=\{[^`]*\}` for one call\)", "", message)
    message = message.replace("(`pdl1=[...]`)", "(`--pdl1-labels`)").replace(
        "declare `key=` too", "give `--cell-type-key` too"
    )
    message = re.sub(r"`tk\.pp\.cell_types\(adata, \.\.\., (\w+)=[^`]*\)` or `cell_types=\{'\w+': [^`]*\}`",
                     lambda m: _option(m.group(1)), message)  # fmt: skip
    return re.sub(r"`cell_types=\{'(\w+)': [^`]*\}`", lambda m: _option(m.group(1)), message)
