"""Optuna storages by URL: checked without writing, then opened.

Accepted forms: an SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://…``), a
bare ``*.db`` / ``*.sqlite`` path (SQLite), a path ending in ``.log`` or ``journal:PATH``
(Optuna's journal file backend). :func:`check_storage` finds every problem a user can cause
(missing or read-only folder, a file that is not a database or not Optuna's, a missing
database driver) before anything is created, so bad input leaves nothing behind.
"""

from __future__ import annotations

import abc
import copy
import errno
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

import optuna
import sqlalchemy
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from landscape import files
from landscape.runs import DEFAULT_STORAGE, records

_log = logging.getLogger("landscape")

SQLITE_HEADER = b"SQLite format 3\x00"
OPTUNA_TABLES = {
    "studies",
    "study_directions",
    "study_user_attributes",
    "study_system_attributes",
    "trials",
    "trial_params",
    "trial_values",
    "trial_intermediate_values",
    "trial_user_attributes",
    "trial_system_attributes",
    "trial_heartbeats",
    "version_info",
    "alembic_version",
}
"""Optuna's RDB schema. A file holding only these is Optuna's, possibly still being created by
another worker; a file with any other table is someone else's and is left alone."""
_DRIVERS = {  # SQLAlchemy dialect+driver: importable module
    "postgresql": "psycopg2",
    "postgresql+psycopg2": "psycopg2",
    "postgresql+psycopg": "psycopg",
    "postgresql+pg8000": "pg8000",
    "mysql": "MySQLdb",
    "mysql+pymysql": "pymysql",
    "mysql+mysqldb": "MySQLdb",
}


class StorageError(ValueError):
    """The storage URL cannot be used; the message is one line."""


@dataclass(frozen=True)
class StorageTarget:
    """A resolved storage.

    Attributes
    ----------
    url : str
        What Optuna is given (SQLAlchemy URL, or the journal file path for ``journal``).
    kind : {"sqlite", "journal", "rdb"}
    path : Path or None
        The file for sqlite and journal storages.
    """

    url: str
    kind: str
    path: Path | None

    @property
    def display(self) -> str:
        """The URL with any password replaced by ***, safe to print or store."""
        return redact(self.url if self.kind != "journal" else f"journal:{self.path}")

    @property
    def identity(self) -> str:
        """What identifies the storage from any folder: a file's absolute path, or the URL."""
        if self.path is not None:
            return f"{self.kind}:{self.path.resolve()}"
        return self.display

    def identity_from(self, folder: Path | str) -> str:
        """What identifies the storage as seen from ``folder``: a file's path relative to it.

        A report folder names its study's storage this way, so a project folder that is moved
        or copied whole (storage and reports together) keeps its reports where they were.
        """
        if self.path is not None:
            rel = os.path.relpath(self.path.resolve(), Path(folder).resolve())
            return f"{self.kind}:{rel}"
        return self.display

    def exists(self) -> bool:
        """Whether the storage file is already there (always True for server databases)."""
        if self.path is None:
            return self.kind == "rdb"
        return self.path.exists() and self.path.stat().st_size > 0


def artifact_dir(target: StorageTarget, explicit: str | None = None) -> Path:
    """Where artifacts go: ``explicit``, else ``artifacts/`` beside the storage file."""
    if explicit:
        path = Path(explicit)
        if not path.parent.exists() and str(path.parent) not in ("", "."):
            raise StorageError(
                f"--artifacts {explicit!r}: folder {str(path.parent)!r} does not exist"
            )
        if path.exists() and not path.is_dir():
            raise StorageError(f"--artifacts {explicit!r} is not a folder")
        return path
    if target.path is not None:
        return target.path.parent / "artifacts"
    return Path("artifacts")


_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature|sig$", re.I)
"""Query keys whose values are credentials (password, passwd, sslpassword, api_key, token, …)."""


def secrets(url: str) -> list[str]:
    """Every credential in a URL: the password of ``user:password@`` and secret query values.

    Parameters
    ----------
    url : str

    Returns
    -------
    list of str
        The secrets, longest first (so a message is masked without leaving a part of one).
    """
    parts = urlsplit(url)
    found = []
    if parts.netloc and "@" in parts.netloc:
        cred = parts.netloc.rpartition("@")[0]
        if ":" in cred:
            found.append(cred.split(":", 1)[1])
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and _SECRET_KEY.search(key):
            found.append(value)
    found += [unquote(s) for s in found if unquote(s) != s]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact(url: str) -> str:
    """Hide every credential of a URL, safe to print or store.

    ``postgresql://u:secret@h/db?sslpassword=x&application_name=a`` becomes
    ``postgresql://u:***@h/db?sslpassword=***&application_name=a``; a URL without credentials
    is returned unchanged.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest, qmark, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        cred, _, host = netloc.rpartition("@")
        if ":" in cred:
            netloc = f"{cred.split(':', 1)[0]}:***@{host}"
    if query:
        fields = []
        for field in query.split("&"):
            key, eq, value = field.partition("=")
            secret = eq and value and _SECRET_KEY.search(unquote(key))
            fields.append(f"{key}=***" if secret else field)
        query = "&".join(fields)
    return f"{scheme}{sep}{netloc}{slash}{path}{qmark}{query}"


def mask(text: str, url: str) -> str:
    """Replace every credential of ``url`` found in ``text`` (e.g. a driver's error) by ***."""
    for secret in secrets(url):
        text = text.replace(secret, "***")
    return text


def resolve(url: str | None) -> StorageTarget:
    """Classify a storage URL or path (no file system access beyond path arithmetic)."""
    if url is None or url == "":
        url = DEFAULT_STORAGE
    if url.startswith("journal:"):
        return StorageTarget(url, "journal", Path(url[len("journal:") :]))
    if "://" not in url:
        if url.endswith(".log"):
            return StorageTarget(url, "journal", Path(url))
        if url.endswith((".db", ".sqlite", ".sqlite3")):
            return StorageTarget(f"sqlite:///{url}", "sqlite", Path(url))
        raise StorageError(
            f"storage {url!r} is not a URL; use sqlite:///PATH.db, a PATH.db, PATH.log or "
            "journal:PATH for a journal file, or postgresql+psycopg://USER@HOST/DB"
        )
    scheme = url.split("://", 1)[0]
    if scheme == "sqlite":
        db = url[len("sqlite://") :]
        if db in ("", "/", "/:memory:"):
            return StorageTarget(url, "sqlite", None)
        return StorageTarget(url, "sqlite", Path(db[1:] if db.startswith("/") else db))
    return StorageTarget(url, "rdb", None)


def existing(url: str | None) -> StorageTarget:
    """Resolve ``url`` to a storage that must already exist, and check it without writing.

    Raises
    ------
    StorageError
        When a storage file is missing, or for any problem :func:`check_storage` finds.
    """
    target = resolve(url)
    if target.path is not None and not target.exists():
        raise StorageError(f"storage {target.display} does not exist")
    check_storage(target)
    return target


def check_storage(target: StorageTarget) -> None:
    """Find every problem with the storage without writing anything.

    Raises
    ------
    StorageError
        With a one-line message naming the bad value.
    """
    shown = target.display
    if target.kind == "rdb":
        scheme = target.url.split("://", 1)[0]
        module = _DRIVERS.get(scheme)
        if module is not None and importlib.util.find_spec(module) is None:
            hint = (
                "install it with pip install 'landscape[postgres]' and use postgresql+psycopg://"
                if scheme.startswith("postgresql")
                else f"install the {module} package"
            )
            raise StorageError(
                f"storage {shown} needs the {module} driver, which is missing; {hint}"
            )
        return
    if target.path is None:
        return
    path = target.path
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise StorageError(f"storage {shown}: folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise StorageError(f"storage {shown}: {str(parent)!r} is not a folder")
    if path.exists():
        if not path.is_file():
            raise StorageError(f"storage {shown}: {str(path)!r} is not a file")
        if not os.access(path, os.R_OK):
            raise StorageError(f"storage {shown}: {str(path)!r} is not readable")
        if path.stat().st_size > 0:
            if target.kind == "sqlite":
                _check_sqlite_header(path, shown)
            else:
                _check_journal_file(path, shown)
    # Before the database is read: SQLite in WAL mode cannot even read a file whose folder is
    # read-only (it creates the -shm index beside it), which it reports as a corrupt file.
    _probe_folder(parent, shown)
    if path.exists() and path.stat().st_size > 0 and target.kind == "sqlite":
        _check_sqlite_file(path, shown)
    if path.exists() and not os.access(path, os.W_OK):
        raise StorageError(f"storage {shown}: {str(path)!r} is read-only")


def _probe_folder(folder: Path, shown: str) -> None:
    """Create and remove a uniquely named file in ``folder``: only trying tells writability.

    os.access says yes to root everywhere, even where creating a file fails (/proc, /sys,
    read-only mounts). The probe has a name of its own, so it never collides with the storage
    file another worker may be creating, and it is removed however the attempt ends.
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=".landscape-probe-", dir=folder)
    except OSError as exc:
        if exc.errno == errno.EROFS or not os.access(folder, os.W_OK):
            raise StorageError(
                f"storage {shown}: folder {str(folder)!r} is read-only; the storage needs a "
                "writable folder (SQLite and journal files write beside themselves)"
            ) from None
        raise StorageError(
            f"storage {shown}: cannot create files in {str(folder)!r} ({exc.strerror})"
        ) from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def _check_sqlite_header(path: Path, shown: str) -> None:
    with open(path, "rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise StorageError(f"storage {shown}: {str(path)!r} is not an SQLite database")


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder if str(folder) else ".").free
    except OSError:
        return 1 << 62


def _check_sqlite_file(path: Path, shown: str) -> None:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {r[0] for r in rows}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        # SQLite says "disk I/O error" when it cannot grow its -shm index on a full disk
        if "disk I/O error" in str(exc) and _free_bytes(path.parent) < 1 << 20:
            raise files.DiskFullError(
                errno.ENOSPC,
                f"the disk holding storage {shown} is full (SQLite: {exc}); free space in "
                f"{str(path.parent.resolve())!r} and run the command again",
            ) from None
        raise StorageError(f"storage {shown}: {str(path)!r} is corrupt ({exc})") from None
    if ok != "ok":
        raise StorageError(f"storage {shown}: {str(path)!r} is corrupt (quick_check: {ok})")
    foreign = tables - OPTUNA_TABLES
    if foreign:
        shown_tables = ", ".join(sorted(foreign)[:5])
        raise StorageError(
            f"storage {shown}: {str(path)!r} is an SQLite database but not an Optuna storage "
            f"(it has tables {shown_tables}); name a new file or an Optuna database"
        )


def _journal_op(line: bytes) -> bool:
    """Whether one line is an operation of Optuna's journal (a JSON object with an op code)."""
    try:
        op = json.loads(line)
    except ValueError:
        return False
    return isinstance(op, dict) and isinstance(op.get("op_code"), int) and "worker_id" in op


def _check_journal_file(path: Path, shown: str) -> None:
    with open(path, "rb") as fh:
        first = fh.readline()
    if not _journal_op(first):
        raise StorageError(f"storage {shown}: {str(path)!r} is not an Optuna journal file")


def check_writable(target: StorageTarget) -> None:
    """Refuse to write to a journal whose last line was torn by a dying writer.

    Optuna skips a torn line while it is last, but anything appended after it makes the whole
    journal unreadable; every command that writes calls this after :func:`check_storage`.

    Raises
    ------
    StorageError
        With the ``repair`` command to run.
    """
    if target.kind == "journal" and target.exists() and torn_tail(target.path) is not None:
        raise StorageError(
            f"journal {target.display} ends with a torn line (a worker died while writing); "
            "nothing was written to it; with no worker running: python -m landscape.study "
            f"repair --storage {target.display}"
        )


def open_storage(
    target: StorageTarget,
    attempts: int = 4,
    heartbeat: int | None = None,
    grace: int | None = None,
    retry_seconds: float = 120.0,
    announce: bool = True,
    first_contact: bool = True,
) -> ResilientStorage:
    """Create or open the storage (call :func:`check_storage` first).

    SQLite files are put in write-ahead-log mode with ``synchronous=NORMAL``: readers do not
    block the writer, and a commit costs about half as much, which matters because every
    ``trial.report`` is a commit. A 30-second busy timeout lets several workers share a file.
    Workers that create the same new database at once race on Optuna's schema (one of them
    fails on a unique constraint); the loser retries after a pause and finds it complete.
    Server databases check a pooled connection before using it (``pool_pre_ping``), so a
    restarted server costs a reconnect, not an error.

    With ``heartbeat`` (seconds) on SQLite and server databases, every running trial records a
    heartbeat; a trial whose worker died stops beating and, ``grace`` seconds later (default
    3 × heartbeat), the next worker to start a trial marks it FAIL and enqueues a copy with the
    same parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``). Journal files have no
    heartbeat: see :func:`fail_stale_running`.

    A database server that cannot be reached is waited for as long as a running trial would
    wait for it (``retry_seconds``), with one warning when ``announce``; then
    :class:`StorageUnavailable` says so in one line. On ``first_contact`` (no process of this
    run has reached it yet: a mistyped URL looks like a server that is down) the wait is at
    most :data:`FIRST_CONTACT` seconds, and the one line is a :class:`StorageError` asking to
    check the URL.

    Returns
    -------
    ResilientStorage
        The storage, waiting out outages of up to ``retry_seconds`` (see there).
    """
    start = time.monotonic()
    attempt = 0
    budget = min(retry_seconds, FIRST_CONTACT) if first_contact else retry_seconds
    announced = not announce or budget <= 0
    while True:
        try:
            store = ResilientStorage(_open(target, heartbeat, grace), target, retry_seconds)
            store.announce = announce
            return store
        except StorageError as exc:
            attempt += 1
            cause = exc.__cause__
            outage = cause is not None and transient(cause)
            waited = time.monotonic() - start
            if target.kind == "journal" or (attempt >= attempts and not outage):
                raise exc.with_traceback(None) from None
            if outage and waited >= budget:
                if first_contact:
                    raise StorageError(
                        f"storage {target.display} cannot be reached "
                        f"({_outage_line(cause, target.url)}; tried for {waited:.0f} s); check "
                        "the URL and that the server runs"
                    ) from None
                raise StorageUnavailable(
                    _unreachable_message(target, waited, retry_seconds, attempt, cause)
                ) from None
            if outage and not announced:
                announced = True
                _log.warning(
                    "storage %s unreachable (%s); retrying for up to %g s",
                    target.display,
                    _outage_line(cause, target.url),
                    budget,
                )
            pause = min(0.5 * attempt, 8.0)
            time.sleep(min(pause, budget - waited) if outage else pause)


def _open(target: StorageTarget, heartbeat: int | None, grace: int | None):
    beat: dict = {}
    if heartbeat:
        beat = {
            "heartbeat_interval": int(heartbeat),
            "grace_period": int(grace or 3 * heartbeat),
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=3
            ),
        }
    try:
        if target.kind == "journal":
            return JournalStorage(JournalFileBackend(str(target.path)))
        if target.kind == "sqlite" and target.path is not None:
            con = sqlite3.connect(target.path, timeout=30)
            try:
                con.execute("PRAGMA journal_mode=WAL")
            finally:
                con.close()
            storage = optuna.storages.RDBStorage(
                target.url, engine_kwargs={"connect_args": {"timeout": 30}}, **beat
            )
            _sqlite_pragmas(storage)
            return optuna.storages._CachedStorage(storage)
        kwargs = {"pool_pre_ping": True} if target.kind == "rdb" else {}
        storage = optuna.storages.RDBStorage(target.url, engine_kwargs=kwargs, **beat)
        return optuna.storages._CachedStorage(storage)
    except Exception as exc:  # the driver's or SQLAlchemy's own error types
        if files.disk_full(exc):
            raise files.DiskFullError(errno.ENOSPC, _disk_full_message(target, exc)) from None
        msg = _one_line(exc, target.url)
        error = StorageError(f"storage {target.display} cannot be opened: {msg}")
        error.__cause__ = exc  # kept to tell an outage; never printed (the CLI prints one line)
        raise error from exc


def _sqlite_pragmas(storage: optuna.storages.RDBStorage) -> None:
    def on_connect(dbapi_connection, _record) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # reconnect, so every pooled connection gets the pragma


def _one_line(exc: BaseException, url: str) -> str:
    text = str(exc).strip().splitlines()
    return mask(text[0] if text else type(exc).__name__, url)


# -------------------------------------------------------------------- fault repair
def torn_tail(path: Path) -> int | None:
    """Byte offset where a journal's torn last line starts, or None when the file is whole.

    A worker killed while appending leaves a last line without its newline (or not JSON).
    Optuna skips such a line while it is last, but once anything is appended after it the
    journal can no longer be read: it must be cut before more is written.
    """
    size = path.stat().st_size
    if size == 0:
        return None
    with open(path, "rb") as fh:
        data = fh.read()
    if data.endswith(b"\n"):
        last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
        try:
            json.loads(data[last_start:])
            return None
        except ValueError:
            return last_start
    return data.rfind(b"\n") + 1


def truncate_torn_tail(path: Path) -> int:
    """Cut a journal's torn last line; return the number of bytes removed (0 if whole).

    Raises
    ------
    StorageError
        If any line before the last is not a journal operation: then the file is not an Optuna
        journal (or is damaged in the middle) and nothing is cut.
    """
    start = torn_tail(path)
    if start is None:
        return 0
    with open(path, "rb") as fh:
        head = fh.read(start)
    lines = head.splitlines()
    if not lines or not all(_journal_op(line) for line in lines):
        raise StorageError(
            f"storage journal:{path}: {str(path)!r} is not an Optuna journal file (a line before "
            "the last is not a journal operation); nothing was changed"
        )
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(start)
    return size - start


def fail_stale_running(
    storage: optuna.storages.BaseStorage, grace: float, study_names: list[str] | None = None
) -> list[tuple[str, int]]:
    """Mark RUNNING trials older than ``grace`` seconds FAIL and enqueue a copy of each.

    For storages without a heartbeat (journal files), or on demand (``repair``). A copy is
    enqueued with the same parameters for search studies; analysis studies re-enqueue their
    missing units themselves. Only safe when no live worker runs a trial longer than ``grace``.

    Returns
    -------
    list of (study name, trial number)
        The trials marked FAIL.
    """
    cutoff = datetime.now() - timedelta(seconds=grace)
    return _fail_running(
        storage,
        study_names,
        lambda t: t.datetime_start is None or t.datetime_start <= cutoff,
    )


def fail_dead_workers(
    storage: optuna.storages.BaseStorage,
    study_names: list[str] | None = None,
    pids: set[int] | None = None,
) -> list[tuple[str, int]]:
    """Mark FAIL the RUNNING trials whose process is known dead, and enqueue a copy of each.

    A trial records its process (:func:`worker_id`); one of this host whose process is gone
    (or is one of ``pids``, workers seen to exit) cannot finish, whatever its heartbeat or the
    journal's grace period say, so it is failed at once and its copy runs next.

    Returns
    -------
    list of (study name, trial number)
    """
    return _fail_running(
        storage,
        study_names,
        lambda t: records.worker(t) is not None and worker_dead(records.worker(t), pids),
    )


def _fail_running(storage, study_names, gone) -> list[tuple[str, int]]:
    failed = []
    for summary in optuna.get_all_study_summaries(storage):
        if study_names is not None and summary.study_name not in study_names:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not gone(t):
                continue
            try:
                # attrs first: a finished trial can no longer be written to
                records.mark_worker_gone(storage, t._trial_id)
                if not storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # it finished meanwhile: its worker was alive after all
            failed.append((summary.study_name, t.number))
            if not records.is_analysis(study) and t.params:
                records.retry_copy(study, t)
    return failed


# ------------------------------------------------------------- a storage that waits
FIRST_CONTACT = 10.0
"""Seconds a run waits for a database server no process of it has reached yet."""


class StorageUnavailable(StorageError):
    """The storage stayed unreachable for the whole retry budget; the message is one line."""


class PlanComplete(Exception):
    """No fresh trial may be created: the run's plan of configurations is complete."""


@dataclass(frozen=True)
class Plan:
    """How many configurations a run may create in a study, counted in the storage.

    Attributes
    ----------
    study_id : int
    limit : int
        Configurations (see :func:`landscape.runs.records.in_plan`) the study (``invocation`` None)
        or this invocation may hold, finished, running or queued.
    invocation : str or None
        Count only the trials of this invocation (``--n-trials``: its own trials), or every
        trial of the study (``--total``).
    """

    study_id: int
    limit: int
    invocation: str | None = None


_TRANSIENT_NAMES = {
    "OperationalError",  # SQLAlchemy's and the drivers': server gone, connection refused
    "InterfaceError",
    "DisconnectionError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "BrokenPipeError",
}


def transient(exc: BaseException) -> bool:
    """Whether a storage error is an outage worth waiting out (not bad data, not a full disk).

    Walks the chain of causes: Optuna wraps the driver's error in its own.
    """
    if files.disk_full(exc):
        return False
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ in _TRANSIENT_NAMES:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _unreachable_message(
    target: StorageTarget, seconds: float, budget: float, attempts: int, exc: BaseException
) -> str:
    """The one line of :class:`StorageUnavailable`: the storage, how long, the budget, why."""
    return (
        f"storage {target.display} unreachable for {seconds:.0f} s, past the --storage-retry "
        f"budget of {budget:g} s ({attempts} attempts): {_outage_line(exc, target.url)}"
    )


def _drop_storage_noise(record: logging.LogRecord) -> bool:
    """Drop what the storage's libraries log about an outage or an interruption.

    Optuna's RDB storage warns that a query failed and is tried another way, with the whole
    SQL statement (a dozen lines), whenever a trial query fails with an ``OperationalError``
    — which a lost connection is; the query that follows fails as well and is retried here,
    an outage said in one line. SQLAlchemy's pool logs, with a traceback, a cursor or
    connection it could not clean up because a signal (SIGTERM, SIGINT) cut a query short;
    the interruption is said in one line by the command.
    """
    if record.getMessage().startswith("Caught an error from sqlalchemy"):
        return False
    exc = record.exc_info[1] if record.exc_info else None
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return False
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return True


def _pool_classes(cls: type = sqlalchemy.pool.Pool) -> Iterator[type]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _pool_classes(sub)


# (a filter of a logger sees its own records only; SQLAlchemy logs on one per pool class)
for _logger_name in ["optuna.storages._rdb.storage"] + [
    f"{cls.__module__}.{cls.__name__}" for cls in _pool_classes()
]:
    logging.getLogger(_logger_name).addFilter(_drop_storage_noise)


def _outage_line(exc: BaseException, url: str) -> str:
    """The first line of the driver's own error under ``exc`` (what the server said).

    Optuna wraps a lost connection in its own error, whose text blames invalid data; the
    driver's error ("connection refused", "server closed the connection") says what happened.
    """
    found, seen = exc, set()
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if type(found).__name__ in _TRANSIENT_NAMES:
            # without SQLAlchemy's "(psycopg.OperationalError) " before the driver's words
            return re.sub(r"^\([\w.]+\) ", "", _one_line(found, url))
        found = found.__cause__ or found.__context__
    return _one_line(exc, url)


def worker_id() -> str:
    """The running process as ``host:pid:start``.

    The start time (clock ticks since boot) keeps a reused pid from being taken for the
    process that had it before.
    """
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def _start_heartbeat_as_daemon(self) -> None:
    """Optuna's ``HeartbeatThread.start``, with its thread a daemon.

    A heartbeat left beating by a trial cut short (a SIGTERM handled inside
    ``Thread.start``'s own wait, before the ``with`` block that stops it) would otherwise keep
    the interpreter waiting for it at exit, and the interrupted run would never end (seen in
    about 1 of 30 SIGTERMs of a minima run). A dead process must stop beating anyway.
    """
    self._stop_event = threading.Event()
    self._thread = threading.Thread(
        target=self._record_heartbeat,
        args=(self._trial_id, self._heartbeat, self._stop_event),
        daemon=True,
    )
    self._thread.start()


optuna.storages._heartbeat.HeartbeatThread.start = _start_heartbeat_as_daemon


def stop_heartbeats() -> int:
    """Stop the heartbeat threads an interrupted trial left running; returns how many.

    Optuna starts a trial's heartbeat thread in ``Thread.start()``, which waits for the thread
    to run: a SIGTERM handled in that wait raises before the ``with`` block that would stop the
    thread is entered. The thread, not a daemon, then beats forever and the interpreter waits
    for it at exit: the process never ends. Setting its stop event ends it at once.
    """
    stopped = 0
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        args = getattr(thread, "_args", ())
        if getattr(target, "__name__", "") == "_record_heartbeat" and args:
            event = args[-1]
            if isinstance(event, threading.Event) and not event.is_set():
                event.set()
                stopped += 1
    return stopped


def worker_dead(worker: str, pids: set[int] | None = None) -> bool:
    """Whether the process ``worker`` (:func:`worker_id`) is known to be dead.

    Only a process of this host can be known dead: its pid is gone or reused, or is one of
    ``pids`` (processes known to have exited).
    """
    host, _, rest = worker.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pids is not None:
        return pid in pids
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    if _state(pid) in ("Z", "X"):
        # Killed and not yet reaped (its parent killed too, and the init process slow to reap
        # orphans): the pid and its start time remain, but the process is gone.
        return True
    return start != "?" and _start_ticks(pid) != start


def _state(pid: int) -> str:
    """The process state letter of ``pid`` (R, S, D, T, Z, …; "?" when it cannot be read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[0]  # field 3, after the command name


def worker_alive(worker: str) -> bool:
    """Whether the process ``worker`` (:func:`worker_id`) is known to be alive.

    It is: it runs on this host, with the same pid and start time.
    """
    host, _, rest = worker.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or start == "?":
        return False
    return not worker_dead(worker) and _start_ticks(int(pid_text)) == start


_FORWARDED = sorted(
    name
    for name in dir(optuna.storages.BaseStorage)
    if not name.startswith("_") and name not in ("create_new_trial", "set_trial_state_values")
)


def _forward(name: str):
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the wrapped storage, retried through an outage."
    return method


class ResilientStorage(optuna.storages.BaseStorage, BaseHeartbeat):
    """An Optuna storage that waits out outages and keeps a run's plan of trials.

    Every call goes to the wrapped storage; one that fails because the database is unreachable
    (connection refused or dropped) is retried with growing pauses, 0.5 s up to 8 s, until
    ``retry_seconds`` have passed since it first failed, then raises :class:`StorageUnavailable`
    in one line. An outage is announced once (one warning when it starts, however many calls
    wait it out); once a call has given up, the others give up at their first failure too, so a
    run that fails does so within one budget, and once a signal (SIGTERM, SIGINT) came while a
    call waited, the process is stopping and no call waits any more. Optuna's heartbeat
    passes through (a trial whose worker waits keeps its heartbeat thread retrying), and a
    stale heartbeat of a process that is alive on this host does not fail its trial: the
    storage was down, not the worker.

    Fresh trials are created under a lock held across processes (a file lock beside an SQLite
    or journal file, an advisory lock on PostgreSQL), and only while the study holds fewer
    configurations than the run's :class:`Plan`: several invocations or workers started
    together then create exactly the planned number, and a dead worker's share is taken by
    the others. Each trial records the process running it (system attr ``landscape:worker``,
    written with the trial itself), so a run can tell a trial whose process died on this host.

    Parameters
    ----------
    inner : optuna.storages.BaseStorage
    target : StorageTarget
    retry_seconds : float
        The outage budget (0: fail at the first error).

    Attributes
    ----------
    announce : bool
        Warn when an outage starts (a run's workers leave that to the run's parent process).
    """

    def __init__(self, inner, target: StorageTarget, retry_seconds: float = 120.0) -> None:
        self.inner = inner
        self.target = target
        self.retry_seconds = float(retry_seconds)
        self.announce = True
        self._plans: dict[int, Plan] = {}
        self._worker = worker_id()
        self._down_since: float | None = None  # when the current outage was first seen
        self._gave_up = False  # a call ran out of budget in this outage
        self._stopping = False  # a signal came while a call waited, in this outage

    # ---------------------------------------------------------------- calls and retries
    def _call(self, name: str, *args, **kwargs):
        return self._retrying(lambda: getattr(self.inner, name)(*args, **kwargs))

    def _retrying(self, fn):
        """``fn()``, retried through an outage for at most the budget (see the class)."""
        start = time.monotonic()
        pause = 0.5
        attempts = 0
        while True:
            attempts += 1
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - classified below, re-raised otherwise
                if files.disk_full(exc):
                    raise files.DiskFullError(
                        errno.ENOSPC, _disk_full_message(self.target, exc)
                    ) from None
                if not transient(exc):
                    raise
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                    if self.announce and self.retry_seconds > 0:
                        _log.warning(
                            "storage %s unreachable (%s); retrying for up to %g s "
                            "(--storage-retry)",
                            self.target.display,
                            _outage_line(exc, self.target.url),
                            self.retry_seconds,
                        )
                waited = now - start
                if self._stopping:
                    raise StorageUnavailable(
                        f"storage {self.target.display} unreachable "
                        f"({_outage_line(exc, self.target.url)}); not waited for, the process "
                        "being interrupted"
                    ) from None
                if self._gave_up or waited >= self.retry_seconds:
                    self._gave_up = True
                    raise StorageUnavailable(self._unreachable(exc, now, attempts)) from None
                try:
                    time.sleep(min(pause, self.retry_seconds - waited))
                except KeyboardInterrupt:
                    # SIGTERM or Ctrl-C while waiting: the process is stopping, and what it
                    # still writes (its trial's end, a copy) must not wait out the outage too.
                    self._stopping = True
                    raise
                pause = min(2 * pause, 8.0)
            else:
                self._down_since = None
                self._gave_up = self._stopping = False
                return result

    def _unreachable(self, exc: BaseException, now: float, attempts: int) -> str:
        since = self._down_since if self._down_since is not None else now
        return _unreachable_message(self.target, now - since, self.retry_seconds, attempts, exc)

    def create_new_trial(self, study_id: int, template_trial=None) -> int:  # noqa: D102
        plan = self._plans.get(study_id)
        if template_trial is not None or plan is None:
            if template_trial is None:
                template_trial = self._fresh_trial({})
            elif template_trial.state == TrialState.RUNNING:
                template_trial = copy.deepcopy(template_trial)
                template_trial.system_attrs[records.WORKER] = self._worker
            return self._call("create_new_trial", study_id, template_trial)
        with self.lock(study_id):
            trials = self._call(
                "get_all_trials", study_id, deepcopy=False, states=records.PLAN_STATES
            )
            if sum(records.in_plan(t, plan.invocation) for t in trials) >= plan.limit:
                raise PlanComplete
            attrs = {} if plan.invocation is None else {records.INVOCATION: plan.invocation}
            # The process and the plan are written with the trial, in one transaction: a worker
            # killed right after can be told dead, and its trial counted where it belongs.
            return self._call("create_new_trial", study_id, self._fresh_trial(attrs))

    def _fresh_trial(self, system_attrs: dict) -> optuna.trial.FrozenTrial:
        """The template of a fresh RUNNING trial of this process (numbered by the storage)."""
        return optuna.trial.FrozenTrial(
            number=-1,
            state=TrialState.RUNNING,
            value=None,
            values=None,
            datetime_start=datetime.now(),
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={**system_attrs, records.WORKER: self._worker},
            intermediate_values={},
            trial_id=-1,
        )

    def set_trial_state_values(self, trial_id: int, state, values=None) -> bool:  # noqa: D102
        try:
            if state == TrialState.RUNNING and self.target.kind == "sqlite" and self.target.path:
                # Popping a queued trial reads its state, then writes RUNNING. Python's sqlite3
                # opens the transaction only at the write, so two workers could both read
                # WAITING and both run the trial (the second one's tell then fails on a
                # COMPLETE trial). Server databases lock the row (FOR UPDATE); SQLite files
                # take the storage's file lock around the pop.
                with self.lock(-1):
                    ok = self._call("set_trial_state_values", trial_id, state, values)
            else:
                ok = self._call("set_trial_state_values", trial_id, state, values)
        except optuna.exceptions.UpdateFinishedTrialError:
            stored = self._call("get_trial", trial_id)
            # A retried call whose first attempt did reach the database before the connection
            # dropped: the trial is already in the state asked for.
            if state.is_finished() and stored.state == state:
                return True
            if state.is_finished() and stored.state == TrialState.FAIL:
                # Failed by another process for a stale heartbeat (a worker on another host,
                # during an outage longer than the grace period), and a copy queued: this
                # result is dropped rather than the run, and the copy runs the configuration.
                _log.warning(
                    "trial %d was marked FAIL by another process while it ran (its heartbeat "
                    "was older than the grace period); its result is dropped, a copy runs",
                    stored.number,
                )
                return False
            raise
        if ok and state == TrialState.RUNNING:  # a queued trial popped by this process
            self._call("set_trial_system_attr", trial_id, records.WORKER, self._worker)
        return ok

    # ---------------------------------------------------------------- heartbeat
    def record_heartbeat(self, trial_id: int) -> None:  # noqa: D102
        try:
            self._call("record_heartbeat", trial_id)
        except StorageError as exc:  # the trial's own calls report the outage, once
            _log.debug("heartbeat not recorded: %s", exc)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = self._call("_get_stale_trial_ids", study_id)
        # A live process's heartbeat is stale only because the storage was unreachable for
        # longer than the grace period: its trial is running, and is left to it.
        return [
            trial_id
            for trial_id in stale
            if not worker_alive(records.worker(self._call("get_trial", trial_id)) or "")
        ]

    def get_heartbeat_interval(self) -> int | None:  # noqa: D102
        if not isinstance(self.inner, BaseHeartbeat):
            return None
        return self.inner.get_heartbeat_interval()

    def get_heartbeat_stale_trial_callback(self):  # noqa: D102
        if not isinstance(self.inner, BaseHeartbeat):
            return None
        return self.inner.get_heartbeat_stale_trial_callback()

    # ---------------------------------------------------------------- plans and locks
    @contextmanager
    def planned(self, plan: Plan) -> Iterator[None]:
        """Hold fresh trials of ``plan.study_id`` to ``plan`` for the block."""
        self._plans[plan.study_id] = plan
        try:
            yield
        finally:
            self._plans.pop(plan.study_id, None)

    @contextmanager
    def lock(self, study_id: int) -> Iterator[None]:
        """An exclusive lock on the study, across processes that share the storage."""
        path = self.target.path
        if path is not None:
            with files.locked(path.parent / f".{path.name}.landscape-lock"):
                yield
            return
        engine = getattr(getattr(self.inner, "_backend", self.inner), "engine", None)
        if engine is None or engine.dialect.name not in ("postgresql", "mysql"):
            yield  # one process (in-memory SQLite) or a database without named locks
            return
        key = int.from_bytes(
            hashlib.sha256(f"landscape:{study_id}".encode()).digest()[:8], "big", signed=True
        )
        if engine.dialect.name == "postgresql":
            acquire, release = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
        else:
            acquire, release, key = "SELECT GET_LOCK(:k, -1)", "SELECT RELEASE_LOCK(:k)", str(key)
        # Connecting and locking are retried together: a connection lost on the way is dropped.
        conn = self._retrying(lambda: _locked_connection(engine, acquire, key))
        try:
            yield
        finally:
            try:
                conn.execute(sqlalchemy.text(release), {"k": key})
            except Exception as exc:  # noqa: BLE001
                # The server dropped the session, and the lock went with it.
                if not transient(exc):
                    raise
            finally:
                conn.close()


def _locked_connection(engine, acquire: str, key: int | str):
    """A new connection of ``engine`` holding the named lock ``key`` (waiting for it)."""
    conn = engine.connect()
    try:
        conn.execute(sqlalchemy.text(acquire), {"k": key})
    except BaseException:
        conn.close()
        raise
    return conn


for _name in _FORWARDED:
    setattr(ResilientStorage, _name, _forward(_name))
abc.update_abstractmethods(ResilientStorage)


def _disk_full_message(target: StorageTarget, exc: BaseException) -> str:
    folder = target.path.parent if target.path is not None else Path(".")
    return (
        f"the disk holding storage {target.display} is full ({_one_line(exc, target.url)}); "
        f"free space in {str(folder.resolve())!r} and run the command again"
    )


def unwrap(storage):
    """The Optuna storage under a :class:`ResilientStorage` (the storage itself otherwise)."""
    return storage.inner if isinstance(storage, ResilientStorage) else storage


class ArtifactStore(FileSystemArtifactStore):
    """Optuna's file-system artifact store, writing each artifact whole or not at all.

    Optuna's own store opens the artifact's file for writing and copies into it, so a kill or a
    full disk mid-copy leaves a truncated artifact under a name the storage already points to
    (an overwritten figure, a study-level result replaced in place). Here the copy goes to a
    temporary file that is renamed over the artifact's file only when complete.
    """

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:  # noqa: D102
        files.replace_file(
            self._get_filepath(artifact_id), lambda fh: shutil.copyfileobj(content_body, fh)
        )
