"""The study's Optuna objective: draw a trial's params, run the trial (`trial.py`), tell Optuna how it ended.

A short adapter. Everything Optuna holds of a trial is written here, in the study layer: its reported values
and prune decisions, its constraints, why it failed or stopped, which worker ran it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial

import optuna
from torch import nn

from optflow.config import Config
from optflow.contract import (
    ATTR_BATCH_SIZE_USED,
    ATTR_FAIL_REASON,
    ATTR_INTERRUPTED,
    ATTR_RESUMED_FROM,
    ATTR_WORKER,
    WORKER_ID,
)
from optflow.data import Dataset
from optflow.records import BestSoFar, EpochRecord, TrialListener, TrialOutcome
from optflow.search.space import suggest
from optflow.study.checkpoints import StudyCheckpoints
from optflow.study.options import ProgressReporter
from optflow.study.trial import Listeners, run_trial
from optflow.tracking.tracker import NullTracker, StudyTracker
from optflow.training import resolve_device


class TrialFailed(RuntimeError):
    """A trial failed on its own (a diverged loss, an own loop's error, CUDA out of memory): Optuna records it
    FAIL and the study goes on. The message is the reason."""


@dataclass
class TrialObjective:
    """What `study.optimize` calls for each trial."""

    config: Config
    data: Dataset | None  # None for an own loop, which loads its own
    tracker: StudyTracker | NullTracker
    best: BestSoFar  # the study's best value as this worker knows it
    reporter: ProgressReporter
    worker: str = ""  # this worker's name among several
    release_lock: Callable[[], None] = lambda: None  # the study lock, held while the params are drawn
    checkpoints: StudyCheckpoints | None = None  # where trials keep their checkpoints; None: they keep none
    seconds: list[float] = field(default_factory=list)  # wall time of each trial this worker ran

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        started = time.perf_counter()
        params = suggest(trial, self.config)
        self.release_lock()
        config = self.config.with_params(params)
        device = "" if config.own_loop else str(resolve_device(config.training.device))
        trial.set_user_attr(ATTR_WORKER, WORKER_ID)
        run = self.tracker.trial_run(trial, params, config, device)
        optuna_side = OptunaTrial(trial, config, self.reporter, self.worker)
        checkpoints = partial(self.checkpoints.for_trial, trial) if self.checkpoints is not None else None
        try:
            outcome = run_trial(
                config,
                self.data,
                Listeners(run, optuna_side),
                number=trial.number,
                params=params,
                checkpoints=checkpoints,
                best=self.best,
                reload_data=config.data != self.config.data,  # the trial searched a data field
            )
        finally:
            self.seconds.append(time.perf_counter() - started)
        if outcome.state == "PRUNED":
            raise optuna.TrialPruned(outcome.reason)
        if outcome.state == "FAIL":
            raise TrialFailed(outcome.reason)
        if config.study.multi_objective:
            return tuple(outcome.measures[goal.name] for goal in config.study.goals)
        return outcome.value


class OptunaTrial(TrialListener):
    """The Optuna side of one running trial: reports each epoch, prunes, and records how the trial ended."""

    def __init__(self, trial: optuna.Trial, config: Config, reporter: ProgressReporter, worker: str) -> None:
        self._trial = trial
        self._config = config
        self._reporter = reporter
        self._worker = worker
        self._starts = 0

    def started(self, config: Config, data: Dataset | None) -> None:
        self._starts += 1
        if self._starts == 1:
            return
        batch = config.training.batch_size  # a second start: the retry on half the batch
        self._trial.set_user_attr(ATTR_BATCH_SIZE_USED, batch)
        self._reporter.notice(
            f"trial {self._trial.number}: CUDA out of memory; retrying with batch_size {batch} and "
            f"gradient_accumulation_steps {config.training.gradient_accumulation_steps}"
        )

    def resumed(self, epoch: int) -> None:
        self._trial.set_user_attr(ATTR_RESUMED_FROM, epoch)

    def epoch(self, record: EpochRecord) -> None:
        study = self._config.study
        if study.multi_objective:  # Optuna's `Trial.report` takes one objective's values
            return
        self._trial.report(record.metrics()[study.metric], record.epoch)
        if study.pruner != "none" and self._trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {record.epoch} by the {study.pruner} pruner")

    def ended(self, outcome: TrialOutcome, model: nn.Module | None) -> None:
        trial = self._trial
        if outcome.complete:
            for constraint in self._config.study.constraint_list:
                trial.set_constraint(str(constraint), constraint.violation(outcome.measures[constraint.name]))
        elif outcome.interrupted:
            with suppress(Exception):  # a storage that fails now must not hide the interrupt
                trial.set_user_attr(ATTR_INTERRUPTED, True)  # the next session runs it again
        elif outcome.state == "FAIL":
            trial.set_user_attr(ATTR_FAIL_REASON, outcome.reason)
        self._reporter.trial_ended(outcome, self._worker)
