"""Optuna's RDB storage and its heartbeat: a dead worker's trial is failed, retried, and reported to optflow.

Several processes creating the same fresh database at once race in the schema creation, so callers open it
under the study lock (`lock.py`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
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


def usage_error(url: str, error: Exception) -> UsageError:
    """The one-line error for a storage URL that cannot be used, password masked."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):  # cannot connect, not a database, read-only, ...
        reason = str(error.orig).splitlines()[0] if error.orig else "cannot connect"
        return UsageError(f"study.storage {mask_password(url)!r} cannot be opened: {mask_password(reason)}")
    return UsageError(
        f"study.storage must be a database URL such as sqlite:///optuna.db or "
        f"postgresql://user@host/db; got {mask_password(url)!r} ({type(error).__name__})"
    )


BAD_URL = (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ImportError, ValueError)


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable in use since 3.0
            # Counted first: Optuna's callback appends to the trial's own retry-history list (a shallow copy).
            retried = len(optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)) < self._max_retry
        self._retry(study, trial)
        reason = f"worker lost: no heartbeat for {GRACE_SECONDS} s; " + (
            "retried as a new trial" if retried else f"not retried again ({self._max_retry} retries used)"
        )
        if self.on_stale is not None:
            self.on_stale(trial, reason)


def open_storage(url: str, heartbeat: bool = True) -> optuna.storages.RDBStorage:
    """Optuna RDB storage with heartbeats (for running trials; a reader such as the dashboard needs none);
    SQLite gets WAL journaling (commits ~3x cheaper, readers unblocked)."""
    is_sqlite = url.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 60}} if is_sqlite else {"pool_pre_ping": True}
    beats = {
        "heartbeat_interval": HEARTBEAT_SECONDS,
        "grace_period": GRACE_SECONDS,
        "heartbeat_stale_trial_callback": StaleTrialCallback(),
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat API, stable in use
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **(beats if heartbeat else {}))
    except (*BAD_URL, sqlalchemy.exc.DBAPIError) as error:
        raise usage_error(url, error) from None
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
    assert isinstance(callback, StaleTrialCallback), "storage not opened by open_storage"
    return callback


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and retry) the trials of workers that stopped beating; Optuna does it before each trial too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
