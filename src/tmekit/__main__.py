"""``python -m tmekit``: the command line (same as the ``tmekit`` command)."""

from __future__ import annotations

from tmekit.cli import main

if __name__ == "__main__":
    main()
