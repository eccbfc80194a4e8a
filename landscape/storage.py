"""Optuna storages by URL: checked without writing, then opened.

Accepted forms: an SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://…``), a
bare ``*.db`` / ``*.sqlite`` path (SQLite), a path ending in ``.log`` or ``journal:PATH``
(Optuna's journal file backend). :func:`check_storage` finds every problem a user can cause
(missing or read-only folder, a file that is not a database or not Optuna's, a missing
database driver) before anything is created, so bad input leaves nothing behind.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import optuna
import sqlalchemy
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from landscape import records

DEFAULT_STORAGE = "sqlite:///studies/landscape.db"
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
) -> optuna.storages.BaseStorage:
    """Create or open the storage (call :func:`check_storage` first).

    SQLite files are put in write-ahead-log mode with ``synchronous=NORMAL``: readers do not
    block the writer, and a commit costs about half as much, which matters because every
    ``trial.report`` is a commit. A 30-second busy timeout lets several workers share a file.
    Workers that create the same new database at once race on Optuna's schema (one of them
    fails on a unique constraint); the loser retries after a pause and finds it complete.

    With ``heartbeat`` (seconds) on SQLite and server databases, every running trial records a
    heartbeat; a trial whose worker died stops beating and, ``grace`` seconds later (default
    3 × heartbeat), the next worker to start a trial marks it FAIL and enqueues a copy with the
    same parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``). Journal files have no
    heartbeat: see :func:`fail_stale_running`.
    """
    for attempt in range(attempts):
        try:
            return _open(target, heartbeat, grace)
        except StorageError:
            if attempt == attempts - 1 or target.kind == "journal":
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


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
            return storage
        return optuna.storages.RDBStorage(target.url, **beat)
    except Exception as exc:  # the driver's or SQLAlchemy's own error types
        msg = _one_line(exc, target.url)
        raise StorageError(f"storage {target.display} cannot be opened: {msg}") from None


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
    failed = []
    for summary in optuna.get_all_study_summaries(storage):
        if study_names is not None and summary.study_name not in study_names:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.datetime_start is not None and t.datetime_start > cutoff:
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
