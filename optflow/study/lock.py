"""The study lock: held while a worker checks the budget, creates a trial and samples it, so workers share a study.

Workers on one machine or many coordinate only through the database (PostgreSQL, MySQL) or the SQLite file:
the lock is a PostgreSQL advisory lock, a MySQL named lock, or an flock on a file beside the SQLite database.
Each is released by the operating system or the server when its holder dies, so a killed worker never blocks
the others.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy

from optflow.errors import UsageError
from optflow.study.storage import BAD_URL, usage_error

# dialect -> (acquire, release) statements; the server drops the lock with the session of a dead worker.
SERVER_LOCKS = {
    "postgresql": ("SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"),
    "mysql": ("SELECT GET_LOCK(:name, -1)", "SELECT RELEASE_LOCK(:name)"),
}


def _lock_key(study_name: str) -> int:
    """A stable signed 64-bit key per study (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.sha256(f"optflow-study:{study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class StudyLock:
    """A lock across every worker of one study, held while a trial is created and sampled.

    It makes the trial budget exact (no worker starts a trial past it), gives each grid point to one trial,
    and keeps two workers from sampling at the same moment from the same history. Re-entrant release is a
    no-op, so the objective can release it as soon as its params are drawn and the caller again in `finally`.
    """

    def __init__(self, url: str, study_name: str) -> None:
        self._url = url
        self._study_name = study_name
        self._held = False
        self._dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._connection: sqlalchemy.Connection | None = None
        self._file: int | None = None
        self._thread_lock = threading.Lock()  # in-memory SQLite and unknown dialects: one process only

    def _sqlite_path(self) -> Path | None:
        path = self._url.removeprefix("sqlite:///")
        if not self._url.startswith("sqlite:///") or path in ("", ":memory:"):
            return None
        return Path(path).resolve()

    def acquire(self) -> None:
        if self._dialect in SERVER_LOCKS:
            self._server_call(SERVER_LOCKS[self._dialect][0])
        elif (path := self._sqlite_path()) is not None:
            import fcntl

            lock_path = f"{path}.optflow-lock"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                reason = f"{path.parent} is a file" if path.parent.is_file() else error.strerror
                raise UsageError(
                    f"study.storage must be in a directory optflow can write to (for {lock_path}); "
                    f"got {self._url!r} ({reason})"
                ) from None
            fcntl.flock(self._file, fcntl.LOCK_EX)
        else:
            self._thread_lock.acquire()
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._dialect in SERVER_LOCKS:
            self._server_call(SERVER_LOCKS[self._dialect][1])
        elif self._file is not None:
            os.close(self._file)  # closing the descriptor drops the flock
            self._file = None
        else:
            self._thread_lock.release()

    def _server_call(self, statement: str) -> None:
        """Run a lock statement on this lock's own connection, kept open between calls (connecting costs ms)."""
        if self._connection is None:
            try:
                engine = sqlalchemy.create_engine(self._url, poolclass=sqlalchemy.pool.NullPool)
                self._connection = engine.connect()
            except (*BAD_URL, sqlalchemy.exc.DBAPIError) as error:
                raise usage_error(self._url, error) from None
        key = _lock_key(self._study_name)
        self._connection.execute(sqlalchemy.text(statement), {"key": key, "name": f"optflow-{key:x}"})
        self._connection.commit()

    def close(self) -> None:
        """Release the lock and drop its connection."""
        self.release()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
