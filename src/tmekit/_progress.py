"""Progress of long work (row chunks scored, samples done), for whoever listens: the command line shows a bar.

The library draws nothing itself: a listener is installed for a block with :func:`reporting` (the ``tmekit``
command line does, when stderr is a terminal and ``--quiet`` is not given); long loops call :func:`advance` with
what they do and how far they are. Without a listener :func:`advance` costs one context-variable read. Progress
never changes a result.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

__all__ = ["advance", "reporting"]

#: ``listener(what, done, total)``
_LISTENER: contextvars.ContextVar[Callable[[str, int, int], None] | None] = contextvars.ContextVar(
    "tmekit_progress", default=None
)


@contextlib.contextmanager
def reporting(listener: Callable[[str, int, int], None]) -> Generator[None, None, None]:
    """Send every :func:`advance` of the block to ``listener(what, done, total)``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def advance(what: str, done: int, total: int) -> None:
    """Tell the listener, if any, that ``done`` of ``total`` units of ``what`` are finished."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(what, int(done), int(total))
