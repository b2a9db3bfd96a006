"""What the command line and the demo collect for the user: tmekit's own warnings, not other libraries' noise."""

from __future__ import annotations

import warnings

import tmekit as tk
from tmekit._warnings import collect_tmekit_warnings


def test_collect_keeps_tmekit_warnings_and_shows_the_others_as_python_does(monkeypatch):
    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        monkeypatch.setattr(warnings, "showwarning", lambda message, category, *_a, **_k: shown.append(category))
        with collect_tmekit_warnings() as caught:
            warnings.warn("2 genes missing", tk.MissingGenesWarning, stacklevel=1)
            warnings.warn("a library's own deprecation", FutureWarning, stacklevel=1)
            warnings.warn("weights dropped", tk.WeightsDroppedWarning, stacklevel=1)
            assert caught == []  # filled when the block ends
    assert [w.category for w in caught] == [tk.MissingGenesWarning, tk.WeightsDroppedWarning]
    assert [str(w.message) for w in caught] == ["2 genes missing", "weights dropped"]
    assert shown == [FutureWarning]  # not hidden: passed on to Python's usual display


def test_collect_records_a_tmekit_warning_every_time_even_if_python_would_show_it_once():
    with warnings.catch_warnings():
        warnings.simplefilter("once")
        with collect_tmekit_warnings() as caught:
            for _ in range(3):
                warnings.warn("same text", tk.InputWarning, stacklevel=1)
    assert len(caught) == 3
