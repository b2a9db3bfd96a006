"""``python -m tmekit``: run the demo on the real dataset shipped in the package."""

from __future__ import annotations

import sys

from tmekit._demo import run_demo

if __name__ == "__main__":
    sys.exit(run_demo())
