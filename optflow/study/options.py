"""How a session runs, apart from what it studies: tracking, worker processes, and who is told of progress.

The config says what to search; `RunOptions` says how this run goes. A `ProgressReporter` hears of the study's
progress: the CLI passes one that prints, the Python API runs silent unless given one. Both travel to
spawned worker processes, so they are plain picklable objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from optflow.config import Config
from optflow.records import TrialOutcome


class ProgressReporter(Protocol):
    """Told of a study's progress; every method is optional work for the implementer, none may fail."""

    def start(self, config: Config, total: int, done: int) -> None:
        """The study begins this session with `done` of `total` trials already spent."""

    def progress(self, done: int) -> None:
        """`done` trials of the budget are spent, counting other workers'."""

    def trial_ended(self, outcome: TrialOutcome, worker: str) -> None:
        """One of this worker's trials ended; `worker` names the worker when there are several ("" if not)."""

    def notice(self, text: str) -> None:
        """A one-line notice for the user (settings changed since the study's last session)."""

    def close(self) -> None:
        """This worker's part of the study is over (or was interrupted)."""


class SilentReporter:
    """Says nothing: the default of the Python API."""

    def start(self, config: Config, total: int, done: int) -> None:
        pass

    def progress(self, done: int) -> None:
        pass

    def trial_ended(self, outcome: TrialOutcome, worker: str) -> None:
        pass

    def notice(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RunOptions:
    """Runtime options of one `tune` or `train` session."""

    tracking: bool = True
    """Log to MLflow (off: `--no-tracking`; Optuna still gets every trial, its notes and values)."""
    tracking_uri: str | None = None
    """MLflow tracking URI; None: MLflow's own default (`MLFLOW_TRACKING_URI`, else ./mlruns)."""
    inline_tracking: bool = False
    """Make MLflow calls on the calling thread instead of a tracking process (tests, debugging)."""
    workers: int = 1
    """Worker processes on this machine sharing the study."""
    worker: str = ""
    """This process's name among the workers ("worker 1"); empty when it works alone."""
    worker_index: int = 0
    """This process's number among the workers (0: the launcher); picks its GPU."""
    devices: tuple[int, ...] = ()
    """CUDA devices the workers take in turn (`--devices`); empty: every visible one."""
    reporter: ProgressReporter = field(default_factory=SilentReporter)
    """Who hears of progress."""


Reporter = ProgressReporter  # its name until this release (the README cited it): kept so old imports work
