"""Files that are never half-written, and locks that serialise writers of one thing.

Every file landscape writes for a user to keep (report pages and figures, study artifacts,
owner files) goes through :func:`replace_file`: the bytes go to a new temporary file in the
same folder, are flushed to disk, and the file is renamed over the old one. A kill at any moment
leaves the old file or the new one, never a part of either, and a full disk leaves the old one.
Because the rename replaces the directory entry, a symlink planted at the file's name is
replaced by the file and its target is never written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


class DiskFullError(OSError):
    """A write found no space left; the message is one line naming the folder."""

    def __str__(self) -> str:
        return str(self.strerror)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk is full.

    Covers ``OSError`` ENOSPC / EDQUOT and SQLite's own "database or disk is full", which
    reaches us as a driver or SQLAlchemy error wrapped in Optuna's storage error.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(exc) or "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class FolderError(ValueError):
    """An output folder that cannot be written: one line naming it and why."""


def check_folder(path: Path | str, what: str) -> None:
    """Refuse an output folder that a command could not write, before it writes anything.

    The folder may be missing (it is created later) if its nearest existing parent is a
    writable folder. Writability is probed by creating and removing a file, which is what a
    read-only mount, a permission or a quota says truthfully (``os.access`` does not, for root).

    Parameters
    ----------
    path : path-like
    what : str
        How the user named it (``--artifacts``, ``--out``).

    Raises
    ------
    FolderError
    """
    path = Path(path)
    shown = f"{what} {str(path)!r}"
    if path.is_symlink() and not path.exists():
        raise FolderError(f"{shown} is a symlink to {os.readlink(path)!r}, which does not exist")
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise FolderError(f"{shown}: {str(probe)!r} is a symlink to a missing path")
        probe = probe.parent
    if not probe.is_dir():
        raise FolderError(
            f"{shown} is not a folder" if probe == path else f"{shown}: {str(probe)!r} is a file"
        )
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".landscape-probe-")
    except OSError as exc:
        where = "" if probe == path else f" (its parent {str(probe)!r})"
        raise FolderError(f"{shown}{where} cannot be written: {exc.strerror}") from None
    os.close(fd)
    os.unlink(name)


def _no_space(folder: Path) -> DiskFullError:
    try:
        free = shutil.disk_usage(folder).free
        left = f"{free / 2**20:.1f} MiB free"
    except OSError:
        left = "free space unknown"
    return DiskFullError(
        errno.ENOSPC,
        f"the disk holding {str(folder.resolve())!r} is full ({left}); free space there and "
        "run the command again (files written before are intact)",
    )


@contextlib.contextmanager
def staged(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` that becomes ``path`` when the block ends cleanly.

    The temporary file is created exclusively (never through a planted link), flushed to
    disk before the rename, and removed when the block raises; ``path`` then keeps what it
    held. Use it for writers that want a path (matplotlib, ``np.savez``).

    Yields
    ------
    Path
        The temporary file (empty), with the same suffix as ``path``.
    """
    path = Path(path)
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=folder)
    except OSError as exc:
        raise (_no_space(folder) if disk_full(exc) else exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and disk_full(exc):
            raise _no_space(folder) from None
        raise


def replace_file(path: Path | str, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` whole or not at all: ``write(fh)`` fills a temporary file, then a rename.

    Parameters
    ----------
    path : path
        The file to create or replace (a symlink there is replaced, not followed).
    write : callable
        ``write(fh)`` writes the content to the binary file object ``fh``.
    """
    with staged(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def write_bytes(path: Path | str, data: bytes) -> None:
    """:func:`replace_file` with ``data``."""
    replace_file(path, lambda fh: fh.write(data))


def write_text(path: Path | str, text: str) -> None:
    """:func:`replace_file` with ``text`` encoded as UTF-8."""
    write_bytes(path, text.encode("utf-8"))


_STAGED = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[^.]*)?$")
"""The names :func:`staged` and :class:`Batch` give their temporary files (``mkstemp``)."""


def sweep_staged(folder: Path | str) -> int:
    """Remove the temporary files that writers killed mid-write (``kill -9``) left in ``folder``.

    Call it only while holding the lock that every writer of the folder holds (a live writer's
    temporary file would be removed too).

    Returns
    -------
    int
        How many files were removed.
    """
    removed = 0
    for path in Path(folder).iterdir():
        if _STAGED.match(path.name) and (path.is_file() or path.is_symlink()):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def locked(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block.

    An advisory ``flock``: it serialises landscape's own writers of one thing (a study's
    report, a storage's trial budget) across processes on this machine, and is released when
    the block ends or the process dies.
    """
    path = Path(path)
    if path.is_symlink():  # planted: replace the link, never open its target
        path.unlink()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise (_no_space(path.parent) if disk_full(exc) else exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a short block that must not be cut (a set of renames).

    A signal that arrives meanwhile is delivered when the block ends.
    """
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Batch:
    """Files staged under temporary names in one folder, then renamed into place together.

    For a set of files that belong together (a report's page and its figures): nothing of the
    new set is visible until :meth:`commit`, which flushes every file to disk first and then
    renames them all with SIGINT and SIGTERM held back, so an interruption leaves the old set
    or the new one. Leaving the block by an exception removes the staged files.

    Parameters
    ----------
    folder : path
        Where the files go (it must exist).
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._staged: list[tuple[Path, Path]] = []

    def path(self, name: str) -> Path:
        """A new temporary file for ``name`` (renamed to ``folder/name`` by :meth:`commit`)."""
        final = self.folder / name
        try:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{name}.", suffix=f".tmp{final.suffix}", dir=self.folder
            )
        except OSError as exc:
            raise (_no_space(self.folder) if disk_full(exc) else exc) from None
        os.close(fd)
        self._staged.append((Path(tmp), final))
        return Path(tmp)

    def write_bytes(self, name: str, data: bytes) -> None:
        """Stage ``name`` with the content ``data``."""
        tmp = self.path(name)
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise (_no_space(self.folder) if disk_full(exc) else exc) from None

    def commit(self) -> None:
        """Flush every staged file to disk, then rename them into place in staging order."""
        try:
            for tmp, _ in self._staged:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
        except OSError as exc:
            raise (_no_space(self.folder) if disk_full(exc) else exc) from None
        with signals_deferred():
            for tmp, final in self._staged:
                os.replace(tmp, final)
            self._staged.clear()

    def discard(self) -> None:
        """Remove every staged file that was not committed."""
        for tmp, _ in self._staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._staged.clear()

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc_info) -> None:
        self.discard()
