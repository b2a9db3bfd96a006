#!/usr/bin/env python3
"""Set up tmekit in a local virtual environment and run the demo or the test suite.

    python3 dev.py demo    # create .venv, install tmekit, run the main job on bundled real data
    python3 dev.py test    # create .venv, install tmekit with test extras, run ruff + the whole suite

Needs only Python 3.11+ (with its standard `venv` module) and access to the package registry.
The environment is rebuilt when pyproject.toml changes. Set TMEKIT_VENV to use another folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TMEKIT_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".tmekit-installed"
PYTEST_NO_TESTS = 5


def _run(*cmd: str | Path) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def _setup(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"tmekit needs Python >= 3.11; this is {sys.version.split()[0]}. Run dev.py with a newer python3.")
    if not PY.exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        except (subprocess.CalledProcessError, OSError) as err:
            sys.exit(
                f"Could not create a virtual environment ({err}). On Debian/Ubuntu install the venv module "
                "first: `apt-get install python3-venv`."
            )
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    target = f".[{extras}]" if extras else "."
    if _run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", target) != 0:
        sys.exit("Installing tmekit failed (see pip's message above).")
    STAMP.write_text(want)


def demo() -> int:
    """Install tmekit and run the demo on the real dataset shipped in the package."""
    _setup("")
    return _run(PY, "-m", "tmekit", "demo", *(sys.argv[2:] or ["--force"]))


def test() -> int:
    """Install tmekit with its test extras, lint, and run the whole test suite."""
    _setup("test")
    if _run(PY, "-m", "ruff", "check", "src", "tests", "tools", "notebooks", "dev.py") != 0:
        return 1
    if _run(PY, "-m", "ruff", "format", "--check", "src", "tests", "tools", "notebooks", "dev.py") != 0:
        print("Formatting differs: run `.venv/bin/python -m ruff format src tests tools notebooks dev.py`.")
        return 1
    code = _run(PY, "-m", "pytest", *sys.argv[2:])
    if code == PYTEST_NO_TESTS:
        print("pytest collected no tests: treating that as a failure.")
        return 1
    return code


if __name__ == "__main__":
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(commands)}}} [extra arguments]")
    sys.exit(commands[sys.argv[1]]())
