"""One finding of `tk.pp.check`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`check`: a short code, how serious it is, and what to do."""

    code: str
    severity: Literal["error", "warning", "info"]
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.code}: {self.message}"
