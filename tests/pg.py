"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl on 127.0.0.1.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
(Debian's package creates it). Its binaries are in PostgreSQL's versioned lib folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A cluster in its own folder, on a fixed port: stopped and started again at will.

    An outage is simulated by :meth:`stop` then :meth:`start`: the server comes back on the
    same port with the same data, as a restarted database server would.

    Parameters
    ----------
    password : str
        Put in :attr:`url`; trust auth ignores it (it is there to check nothing prints it).
    """

    def __init__(self, password: str = "s3cret") -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are missing (apt-get install postgresql)"
            )
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="landscape-pg-", dir="/tmp"))
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres:{password}@127.0.0.1:{self.port}/landscape"
        """A SQLAlchemy URL to the database ``landscape``."""

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._prefix, *cmd], check=True, capture_output=True, text=True)

    def _pg_ctl(self, *args: str) -> list[str]:
        return [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]

    def create(self, database: str | None = "landscape") -> None:
        """initdb, start, and create ``database`` (None: none, as a fresh server has)."""
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "--auth=trust",
            "-U",
            "postgres",
            "--no-sync",
        )
        self.start()
        if database is None:
            return
        self._run(
            str(self.bindir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            database,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            *self._pg_ctl(
                "-l",
                str(self.folder / "log"),
                "-w",
                "-o",
                f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=200",
                "start",
            )
        )

    def stop(self) -> None:
        """Stop the server at once (``immediate``: open connections are cut, as in a crash)."""
        self._run(*self._pg_ctl("-m", "immediate", "-w", "stop"))

    def remove(self) -> None:
        """Stop the server if it runs, and delete its folder."""
        stop = [*self._prefix, *self._pg_ctl("-m", "fast", "-w", "stop")]
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def postgres_server(password: str = "s3cret") -> Iterator[PostgresServer]:
    """Create and start a cluster, yield its :class:`PostgresServer`, stop and delete it."""
    server = PostgresServer(password)
    try:
        server.create()
        yield server
    finally:
        server.remove()


@contextmanager
def postgres_cluster(password: str = "s3cret") -> Iterator[str]:
    """Start a cluster, yield a SQLAlchemy URL to a fresh database, stop and delete it."""
    with postgres_server(password) as server:
        yield server.url
