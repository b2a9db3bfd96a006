"""A failed call leaves the object as it was: what a writer added or replaced is put back on any exception."""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from anndata import AnnData

__all__ = ["all_or_nothing", "restored_on_error"]

F = TypeVar("F", bound="Callable[..., Any]")
_SLOTS = ("obsm", "uns", "layers", "obsp")


def _restore(adata: AnnData, obs: Any, slots: dict[str, dict[str, Any]]) -> None:
    if not (adata.is_view and adata.obs.columns.equals(obs.columns)):  # (an untouched view stays a view)
        adata.obs = obs  # a shallow copy taken before the call: the original columns, whatever was assigned since
    for slot, before in slots.items():
        mapping = getattr(adata, slot)
        for key in [k for k in mapping if k not in before]:
            del mapping[key]
        for key, value in before.items():
            if key not in mapping or mapping[key] is not value:
                mapping[key] = value


@contextlib.contextmanager
def restored_on_error(adata: AnnData) -> Generator[None, None, None]:
    """A block after which, if it raised, ``adata`` has the obs columns and slot entries it had before."""
    obs = adata.obs.copy(deep=False)  # the column objects, not their data
    slots = {slot: dict(getattr(adata, slot).items()) for slot in _SLOTS}
    try:
        yield
    except BaseException:
        _restore(adata, obs, slots)
        raise


def all_or_nothing(func: F) -> F:
    """Decorate a function whose first argument is the AnnData it writes into.

    If the call raises, the obs columns and the ``obsm``, ``uns``, ``layers`` and ``obsp`` entries it added are
    removed and those it replaced are put back (the objects themselves, no copies), then the error goes on.
    ``X`` is never written by tmekit, so it needs no guard.
    """

    @functools.wraps(func)
    def wrapper(adata: AnnData, *args: Any, **kwargs: Any) -> Any:
        with restored_on_error(adata):
            return func(adata, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
