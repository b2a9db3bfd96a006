"""Write the lock files from the environment this interpreter runs in (called by ``python3 dev.py lock``).

    python tools/write_locks.py requirements/test.lock requirements/demo.lock

The test lock pins every distribution installed (tmekit itself excepted); the demo lock pins the subset that
tmekit's runtime dependencies need (no test extras), at the same versions, so that the demo and the test
command can share one environment. Both name the interpreter and platform they were resolved on.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import platform
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SKIP = {"pip", "tmekit"}  # pip is the installer's own; tmekit is installed from the checkout


def installed() -> dict[str, md.Distribution]:
    dists = {}
    for dist in md.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        dists.setdefault(name, dist)
    return dists


def closure(dists: dict[str, md.Distribution], root: str, extras: set[str]) -> set[str]:
    """Names of the distributions ``root[extras]`` needs, transitively, with environment markers evaluated."""
    seen: set[str] = set()
    todo = [(canonicalize_name(root), frozenset(extras))]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in done or name not in dists:
            continue
        done.add((name, wanted))
        seen.add(name)
        for line in dists[name].requires or []:
            req = Requirement(line)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return seen


def write(path: Path, names: set[str], dists: dict[str, md.Distribution], what: str) -> None:
    header = [
        f"# {what}",
        f"# Written by `python3 dev.py lock` on {dt.datetime.now(dt.UTC):%Y-%m-%d} after the suite passed on these",
        f"# versions, resolved on CPython {platform.python_version()} ({sys.platform}, {platform.machine()}).",
        "# Installed with `pip install --no-deps -r` and checked with `pip check`; do not edit by hand.",
    ]
    pins = sorted(f"{dists[n].metadata['Name']}=={dists[n].version}" for n in names - SKIP)
    path.write_text("\n".join(header + pins) + "\n")


def main() -> None:
    test_lock, demo_lock = (Path(p) for p in sys.argv[1:3])
    dists = installed()
    write(test_lock, set(dists), dists, "Every package of the test environment (tmekit with its test extras).")
    write(demo_lock, closure(dists, "tmekit", set()), dists, "tmekit's runtime dependencies (the demo).")


if __name__ == "__main__":
    main()
