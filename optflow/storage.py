"""Optuna's RDB storage, its heartbeat and the study lock that lets many workers share one study.

Workers on one machine or many coordinate only through the database (PostgreSQL, MySQL) or the SQLite file:
the study lock is a PostgreSQL advisory lock, a MySQL named lock, or an flock on a file beside the SQLite
database. Each is released by the operating system or the server when its holder dies, so a killed worker
never blocks the others.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial

from optflow.errors import UsageError
from optflow.urls import mask_password

# Optuna heartbeat: a worker silent for GRACE seconds is taken as dead, its trial failed and retried.
HEARTBEAT_SECONDS = int(os.environ.get("OPTFLOW_HEARTBEAT_SECONDS", "10"))
GRACE_SECONDS = int(os.environ.get("OPTFLOW_GRACE_SECONDS", str(3 * HEARTBEAT_SECONDS)))
MAX_RETRIES = 2  # a trial whose worker died is run again at most this many times


def _usage_error(url: str, error: Exception) -> UsageError:
    if isinstance(error, sqlalchemy.exc.OperationalError):
        reason = str(error.orig).splitlines()[0] if error.orig else "cannot connect"
        return UsageError(f"study.storage {mask_password(url)!r} cannot be opened: {mask_password(reason)}")
    return UsageError(
        f"study.storage must be a database URL such as sqlite:///optuna.db or "
        f"postgresql://user@host/db; got {mask_password(url)!r} ({type(error).__name__})"
    )


_BAD_URL = (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ImportError, ValueError)


class StaleTrialCallback:
    """Optuna's heartbeat callback: retries a dead worker's trial and tells optflow, which closes its MLflow run.

    `on_stale` is set once tracking is up; whichever worker notices the stale trial calls it.
    """

    def __init__(self, max_retry: int = MAX_RETRIES) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable in use since 2.8
            self._retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry)
        self._max_retry = max_retry
        self.on_stale: Callable[[FrozenTrial, str], None] | None = None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # Counted first: Optuna's callback appends to the trial's own retry-history list (a shallow copy).
        retried = len(trial.system_attrs.get("retry_history", [])) < self._max_retry
        self._retry(study, trial)
        reason = f"worker lost: no heartbeat for {GRACE_SECONDS} s; " + (
            "retried as a new trial" if retried else f"not retried again ({self._max_retry} retries used)"
        )
        if self.on_stale is not None:
            self.on_stale(trial, reason)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna RDB storage with heartbeats; SQLite gets WAL journaling (commits ~3x cheaper, readers unblocked).

    Several processes creating the same fresh database at once race in the schema creation, so callers
    open it under `StudyLock`.
    """
    is_sqlite = url.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 60}} if is_sqlite else {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat API, stable in use
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=StaleTrialCallback(),
            )
    except (*_BAD_URL, sqlalchemy.exc.OperationalError) as error:
        raise _usage_error(url, error) from None
    if is_sqlite:

        @sqlalchemy.event.listens_for(storage.engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        storage.engine.dispose()  # connections made before the listener reconnect with it
    return storage


def stale_trial_callback(storage: optuna.storages.RDBStorage) -> StaleTrialCallback:
    callback = storage.get_heartbeat_stale_trial_callback()
    assert isinstance(callback, StaleTrialCallback), "storage not opened by optflow.storage.open_storage"
    return callback


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and retry) the trials of workers that stopped beating; Optuna does it before each trial too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


# ------------------------------------------------------------------------------------------------ lock


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

            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = os.open(f"{path}.optflow-lock", os.O_RDWR | os.O_CREAT, 0o644)
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
            except (*_BAD_URL, sqlalchemy.exc.OperationalError) as error:
                raise _usage_error(self._url, error) from None
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
