"""Atomic writes: temporaries beside the target, renamed into place only when every output is complete.

A failed or interrupted write leaves nothing: SIGINT and SIGTERM raise while a temporary exists (so cleanup runs),
the short steps of making a temporary and of renaming the outputs cannot be cut in half, late writes of zarr's I/O
thread are waited out, and temporaries of processes that were killed (SIGKILL) are removed by the next write in
their folder. ``tmekit.io`` builds its writers on :func:`atomic_targets`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Sequence

__all__ = ["atomic_targets", "check_output_path", "same_file"]


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (after symlinks and relative parts; hard links too once both exist)."""
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def check_output_path(
    path: str | Path,
    *,
    overwrite: bool,
    how_to_replace: str = "Pass `overwrite=True`",
    inputs: Iterable[str | Path | None] = (),
) -> Path:
    """Raise a clear error unless ``path`` can be written.

    Its folder must exist; unless ``overwrite``, it must not exist; and it may never be one of ``inputs``
    (the same file after symlinks), with or without ``overwrite``: tmekit does not replace the data it reads.

    Parameters
    ----------
    path
        The output path.
    overwrite
        Whether an existing file may be replaced.
    how_to_replace
        The fix the message names when the file exists (the command line says ``--force``).
    inputs
        Files the output may not be.

    Returns
    -------
    ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    ValueError
        ``path`` is one of ``inputs``.
    FileNotFoundError, PermissionError
        Its folder does not exist, or cannot be written to.

    Examples
    --------
    >>> tk.io.check_output_path("calls.csv", overwrite=False)
    PosixPath('calls.csv')
    """
    path = Path(path)
    for source in inputs:
        if source is not None and same_file(path, Path(source)):
            msg = (
                f"Refusing to write {str(path)!r}: it is the input file {str(source)!r}, which would be lost "
                "(even with overwrite/--force). Choose another output path."
            )
            raise ValueError(msg)
    if path.exists() and not overwrite:
        msg = f"{str(path)!r} already exists. {how_to_replace} to replace it, or choose another path."
        raise FileExistsError(msg)
    if not path.parent.is_dir():
        msg = f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist. Create it first."
        raise FileNotFoundError(msg)
    if not os.access(path.parent, os.W_OK | os.X_OK):  # a read-only folder or file system: say so before any work
        msg = (
            f"Cannot write {str(path)!r}: folder {str(path.parent.resolve())!r} is not writable (read-only, or "
            "another user's). Choose an output folder you can write to; nothing was computed or written."
        )
        raise PermissionError(msg)
    return path


def _read_umask() -> int:
    # os.umask can only be read by setting it: done once, at import, not per write (another thread could
    # create a file in the window where the mask is 0).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
#: Temporary files are named ``.<target>.tmekit-<host>-<pid>-<random>.tmp`` so that a later write can tell
#: which are tmekit's and whether the process that made them is gone (killed before it could clean up).
_TMP_TAG = "tmekit"
_TMP_RE = re.compile(rf"^\..+\.{_TMP_TAG}-(?P<host>[^-]+)-(?P<pid>\d+)-[^.]+\.tmp$")
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"
_STALE_SECONDS = 24 * 3600  # temporaries of another host: removed once they are a day old


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete tmekit temporaries in ``folder`` left by processes that died mid-write (SIGKILL, power loss)."""
    now = time.time()
    for entry in folder.iterdir():
        found = _TMP_RE.match(entry.name)
        if not found or not (entry.is_file() or entry.is_dir()) or entry.is_symlink():
            continue
        same_host = found["host"] == _HOST
        with contextlib.suppress(OSError):
            stale = not _alive(int(found["pid"])) if same_host else now - entry.stat().st_mtime > _STALE_SECONDS
            if stale:
                _remove(entry)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_for(signum: int, handler: object) -> None:
    """Do what ``signum`` would have done under ``handler`` (SIGINT: KeyboardInterrupt; SIGTERM: exit 143)."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)


@contextlib.contextmanager
def _interruptible() -> Generator[None, None, None]:
    """While a temporary exists, SIGINT and SIGTERM raise (KeyboardInterrupt / SystemExit) so that cleanup runs.

    Only in the main thread; SIGTERM's default handler would kill the process without any cleanup, and an ignored
    signal stays ignored. The previous handlers are restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in _SIGNALS}

    def stop(signum: int, _frame: object) -> None:
        _raise_for(signum, old[signum])

    for sig, handler in old.items():
        if handler != signal.SIG_IGN:
            signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _deferred(*, replay: bool = True) -> Generator[None, None, None]:
    """A short step no signal may cut in half (making a temporary and noting it; renaming outputs into place).

    A signal that came meanwhile acts afterwards (``replay``), or is dropped: once the outputs are in place the
    command has done its work, and an interrupt then must not say that nothing was written.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {s: signal.getsignal(s) for s in _SIGNALS}
    for sig, handler in old.items():
        if handler != signal.SIG_IGN:
            signal.signal(sig, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    for signum in caught[:1] if replay else []:
        _raise_for(signum, old[signum])


def _temporary_beside(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_TMP_TAG}-{_HOST}-{os.getpid()}-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp makes the file private (0600); the result gets normal permissions
    return tmp_path


def _remove(path: Path) -> None:
    """Delete a file or a folder (a zarr store) if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


#: After an interrupted write, how long a temporary store is watched: zarr writes from its own I/O thread, which
#: may still create files in it after the main thread stopped.
_SETTLE_SECONDS = 1.0


def _remove_for_good(paths: Sequence[Path], *, interrupted: bool) -> None:
    """Delete the temporaries; after an interruption, again while late writes of other threads bring them back."""
    for path in paths:
        _remove(path)
    if not interrupted:
        return
    end = time.monotonic() + _SETTLE_SECONDS
    while time.monotonic() < end:
        time.sleep(0.05)
        for path in paths:
            if path.exists():
                _remove(path)
                end = time.monotonic() + _SETTLE_SECONDS


def _move_into_place(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` onto ``path``; a folder (zarr store) replaces an old one by renaming that aside first."""
    if not tmp.is_dir() or not path.exists():
        tmp.replace(path)
        return
    aside = _temporary_beside(path)
    aside.unlink()
    path.replace(aside)
    try:
        tmp.replace(path)
    except OSError:
        aside.replace(path)  # the old output back: never neither
        raise
    _remove(aside)


@contextlib.contextmanager
def atomic_targets(
    paths: Sequence[Path], *, overwrite: bool, inputs: Iterable[str | Path | None] = ()
) -> Generator[list[Path], None, None]:
    """Temporary paths beside each of ``paths``; when the block succeeds all are renamed into place, else none."""
    inputs = list(inputs)
    resolved = [check_output_path(p, overwrite=overwrite, inputs=inputs) for p in paths]
    for i, a in enumerate(resolved):
        for b in resolved[:i]:
            if same_file(a, b):
                msg = f"Two outputs name the same file {str(a)!r}: give each output its own path."
                raise ValueError(msg)
    for folder in {p.parent.resolve() for p in resolved}:
        _remove_stale_temporaries(folder)
    temporaries: list[Path] = []
    interrupted = True
    with _interruptible():
        try:
            for p in resolved:
                with _deferred():
                    temporaries.append(_temporary_beside(p))
            try:
                yield temporaries
            except OSError as err:
                interrupted = False
                where = ", ".join(str(p) for p in resolved)
                msg = f"Could not write {where}: {err.strerror or err}. Nothing was written."
                raise OSError(msg) from err
            with _deferred(replay=False):
                for tmp, path in zip(temporaries, resolved, strict=True):
                    _move_into_place(tmp, path)
            interrupted = False
        except Exception:
            interrupted = False
            raise
        finally:
            _remove_for_good(temporaries, interrupted=interrupted)
