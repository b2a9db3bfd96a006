#!/usr/bin/env python3
"""Set up tmekit in a local virtual environment and run the demo or the test suite.

    python3 dev.py demo             # .venv from requirements/demo.lock, run the main job on bundled real data
    python3 dev.py test             # .venv from requirements/test.lock (the tested versions), ruff + the suite
    python3 dev.py test --latest    # .venv-latest: the newest releases of everything, resolved afresh, same suite
    python3 dev.py test --min       # .venv-min: every runtime dependency at the floor pyproject.toml declares
    python3 dev.py docs             # .venv as for `test`; the documentation, warnings as errors -> docs/_build/html
    python3 dev.py lock             # refresh the locks: newest releases -> suite -> requirements/*.lock if it passes

Needs only Python 3.11+ (with its standard `venv` module) and access to the package registry. The locked
environment is reinstalled when pyproject.toml or a lock file changes. Set TMEKIT_VENV to use another folder
for the locked environment (the --latest and --min ones sit beside it, suffixed -latest and -min).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TMEKIT_VENV", ROOT / ".venv"))
LOCKS = ROOT / "requirements"
TEST_LOCK = LOCKS / "test.lock"
DEMO_LOCK = LOCKS / "demo.lock"
PYTEST_NO_TESTS = 5
PIP = ("-m", "pip", "--disable-pip-version-check")
LINT_PATHS = ("src", "tests", "tools", "notebooks", "benchmarks", "docs", "dev.py")
DOCS_OUT = Path("docs") / "_build" / "html"


def _run(*cmd: str | Path, quiet_pip: bool = False) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    if not quiet_pip:
        return subprocess.call([str(c) for c in cmd], cwd=ROOT)
    # pip repeats one "Location ... is ignored" line per package for index folders a machine's pip.conf names but
    # does not have; those lines say nothing about tmekit, so they are dropped (every other line is shown).
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if not re.match(r"WARNING: Location '.*' is ignored", line):
            print(line, end="", flush=True)
    return proc.wait()


def _python(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / ("python.exe" if os.name == "nt" else "python")


def _new_venv(env: Path, *, clear: bool) -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"tmekit needs Python >= 3.11; this is {sys.version.split()[0]}. Run dev.py with a newer python3.")
    py = _python(env)
    if clear or not py.exists():
        print(f"Creating virtual environment in {env}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(env)
        except (subprocess.CalledProcessError, OSError) as err:
            sys.exit(
                f"Could not create a virtual environment ({err}). On Debian/Ubuntu install the venv module "
                "first: `apt-get install python3-venv`."
            )
    return py


def _pip(py: Path, *args: str | Path, what: str) -> None:
    if _run(py, *PIP, "install", "-q", *args, quiet_pip=True) != 0:
        sys.exit(f"Installing {what} failed (see pip's message above).")


def _setup_locked(lock: Path, extras: str) -> Path:
    """The locked environment: exactly the versions in ``lock``, then tmekit itself (editable, no resolution)."""
    if not lock.is_file():
        sys.exit(f"{lock.relative_to(ROOT)} is missing: run `python3 dev.py lock` to write it.")
    py = _new_venv(VENV, clear=False)
    stamp = VENV / ".tmekit-installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + lock.read_bytes() + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return py
    _pip(py, "--no-deps", "-r", lock, what=f"the locked versions ({lock.relative_to(ROOT)})")
    _pip(py, "--no-deps", "-e", ".", what="tmekit")
    if _run(py, *PIP, "check") != 0:
        sys.exit(
            f"{lock.relative_to(ROOT)} no longer satisfies pyproject.toml (see above): refresh it with "
            "`python3 dev.py lock`, or use `python3 dev.py test --latest`."
        )
    stamp.write_text(want)
    return py


def _floors() -> list[str]:
    """``name==floor`` for every runtime dependency of pyproject.toml (the versions a min-deps run installs)."""
    import tomllib

    pins = []
    for req in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        found = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", req.strip())
        if not found:
            sys.exit(f"pyproject.toml dependency {req!r} has no `>=` floor; every dependency must declare one.")
        pins.append(f"{found.group(1)}=={found.group(3)}")
    return pins


def _setup_flavour(flavour: str) -> Path:
    """``latest``: a fresh environment with the newest releases; ``min``: runtime dependencies at their floors."""
    env = VENV.with_name(f"{VENV.name}-{flavour}")
    py = _new_venv(env, clear=True)
    if flavour == "latest":
        _pip(py, "--upgrade", "pip", what="pip")
        _pip(py, "--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]", what="the newest releases")
    else:
        # pip's backtracking gives up on this graph ("resolution-too-deep") when direct dependencies are pinned
        # low; uv (from the registry) resolves it in seconds and explains a conflict when there is one.
        constraints = env / "floors.txt"
        constraints.write_text("\n".join(_floors()) + "\n")
        print("Floors:", ", ".join(_floors()), flush=True)
        _pip(py, "uv", what="uv")
        uv = py.parent / ("uv.exe" if os.name == "nt" else "uv")
        if _run(uv, "pip", "install", "--python", py, "-c", constraints, "-e", ".[test]") != 0:
            sys.exit("Installing the floor versions failed (see uv's message above): raise the floor it names.")
    _run(py, *PIP, "list", "--format=freeze", "--exclude-editable")
    return py


def _suite(py: Path, pytest_args: list[str]) -> int:
    if _run(py, "-m", "ruff", "check", *LINT_PATHS) != 0:
        return 1
    if _run(py, "-m", "ruff", "format", "--check", *LINT_PATHS) != 0:
        print(f"Formatting differs: run `{py} -m ruff format {' '.join(LINT_PATHS)}`.")
        return 1
    code = _run(py, "-m", "pytest", *pytest_args)
    if code == PYTEST_NO_TESTS:
        print("pytest collected no tests: treating that as a failure.")
        return 1
    return code


def demo() -> int:
    """Install the locked runtime versions and tmekit, then run the demo on the real data shipped in the package."""
    py = _setup_locked(DEMO_LOCK, "")
    return _run(py, "-m", "tmekit", "demo", *(sys.argv[2:] or ["--force"]))


def test() -> int:
    """Install the locked (or, with --latest / --min, the newest / the floor) versions, lint, run the suite."""
    args = sys.argv[2:]
    flavours = [a for a in args if a in {"--latest", "--min"}]
    if len(flavours) > 1:
        sys.exit("Give --latest or --min, not both.")
    pytest_args = [a for a in args if a not in flavours]
    py = _setup_flavour(flavours[0][2:]) if flavours else _setup_locked(TEST_LOCK, "test")
    return _suite(py, pytest_args)


def docs() -> int:
    """Install the locked test environment (the test extras include the docs tools) and build the documentation.

    The same build as the suite's (tests/test_docs.py): from scratch (-E), warnings as errors (-W, all of them
    reported: --keep-going), the tutorials executed. Extra arguments go to sphinx-build (e.g. ``-j 2``).
    """
    py = _setup_locked(TEST_LOCK, "test")
    code = _run(py, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", "html", *sys.argv[2:], "docs", DOCS_OUT)
    if code == 0:
        print(f"Built {DOCS_OUT / 'index.html'}: open it in a browser.")
    return code


def lock() -> int:
    """Resolve the newest releases afresh, run the suite on them, and write the locks only if it passes."""
    py = _setup_flavour("latest")
    code = _suite(py, sys.argv[2:])
    if code != 0:
        print("The suite failed on the newest releases: the locks were left as they were.")
        return code
    LOCKS.mkdir(exist_ok=True)
    code = _run(py, ROOT / "tools" / "write_locks.py", TEST_LOCK, DEMO_LOCK)
    if code == 0:
        print(f"Wrote {TEST_LOCK.relative_to(ROOT)} and {DEMO_LOCK.relative_to(ROOT)}: commit them.")
    return code


def clean() -> int:
    """Remove the three virtual environments dev.py makes."""
    for env in (VENV, VENV.with_name(f"{VENV.name}-latest"), VENV.with_name(f"{VENV.name}-min")):
        shutil.rmtree(env, ignore_errors=True)
    return 0


if __name__ == "__main__":
    commands = {"demo": demo, "test": test, "docs": docs, "lock": lock, "clean": clean}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(commands)}}} [extra arguments]")
    sys.exit(commands[sys.argv[1]]())
