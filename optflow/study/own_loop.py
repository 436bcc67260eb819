"""The user's own training loop (`objective: my_pkg.train:run`): optflow searches, prunes, tracks and recovers;
the function trains.

It is called once per trial as `run(params, reporter)`: `params` holds `objective.params` with the trial's
sampled values merged in, and the reporter takes each epoch's metrics (`reporter.epoch({...})`), which become
the trial's intermediate values, its MLflow metric histories and its curve. When the pruner says stop,
`reporter.epoch` raises `optuna.TrialPruned` inside the loop, as Optuna's own `trial.report`/`should_prune`
pattern does. Files the function names (`reporter.artifact(path)`, or a list of paths it returns) are logged
with the trial's run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna

from optflow.config import Config
from optflow.config.references import resolve
from optflow.records import EpochRecord
from optflow.study.interrupts import interruptible, protected

STANDARD = ("train_loss", "val_loss", "lr", "val_accuracy", "val_rmse", "val_bpc")


class OwnLoopError(RuntimeError):
    """The user's function failed its trial: it raised, or reported something optflow cannot use (no value of the
    study's metric, a non-number). The trial ends FAIL with this as its reason and the study goes on."""


class TrialReporter:
    """What an own training loop reports to: one call per epoch, and the files it wants kept."""

    def __init__(self, trial_number: int, config: Config, on_epoch: Callable[[EpochRecord], None]) -> None:
        self.trial_number = trial_number  # the Optuna trial's number (0 under `optflow train`)
        self._config = config
        self._on_epoch = on_epoch
        self._started = time.perf_counter()
        self._epoch = 0
        self.artifacts: list[str] = []

    def epoch(self, metrics: Mapping[str, float], epoch: int | None = None) -> None:
        """This epoch's metrics (`study.metric` among them); raises `optuna.TrialPruned` when the pruner stops
        the trial. `epoch` defaults to the number of earlier calls."""
        number = self._epoch if epoch is None else int(epoch)
        values = {str(name): _number(name, value) for name, value in metrics.items()}
        metric = self._config.study.metric
        if metric not in values:
            raise OwnLoopError(
                f"objective reported no {metric!r} (study.metric) at epoch {number}; got {sorted(values)}"
            )
        record = EpochRecord(
            epoch=number,
            train_loss=values.get("train_loss"),
            val_loss=values.get("val_loss"),
            lr=values.get("lr"),
            steps=0,
            seconds=time.perf_counter() - self._started,
            val_accuracy=values.get("val_accuracy"),
            val_rmse=values.get("val_rmse"),
            val_bpc=values.get("val_bpc"),
            extra={name: value for name, value in values.items() if name not in STANDARD},
        )
        self._epoch = number + 1
        with protected():  # a Ctrl-C here waits until the epoch is recorded, then stops the loop
            self._on_epoch(record)

    def artifact(self, path: str | Path) -> None:
        """Keep this file with the trial's MLflow run (a sample, a plot, a checkpoint)."""
        self.artifacts.append(str(path))


def _number(name: Any, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OwnLoopError(f"objective reported {name} = {value!r}, which is not a number") from None
    if math.isnan(number):
        raise OwnLoopError(f"objective reported {name} = nan")
    return number


def run_own_loop(config: Config, reporter: TrialReporter) -> list[str]:
    """Call the user's function for one trial; the files to log with its run."""
    function = resolve("objective.function", config.objective.function, ("params", "reporter"))
    try:
        with interruptible():  # the user's loop is the training: Ctrl-C stops it at once
            returned = function(dict(config.objective.params), reporter)  # the trial's values are in them
    except (optuna.TrialPruned, KeyboardInterrupt, OwnLoopError):
        raise
    except Exception as error:  # the user's code failed this trial; the study goes on (as after a divergence)
        raise OwnLoopError(f"objective raised {type(error).__name__}: {error}") from error
    if isinstance(returned, str | Path):
        returned = [returned]
    if isinstance(returned, Mapping):
        returned = list(returned.values())
    files = [*reporter.artifacts, *(str(p) for p in (returned or []) if isinstance(p, str | Path))]
    return [path for path in files if Path(path).is_file()]
