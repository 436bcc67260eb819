"""The plain data that flows between layers: an epoch's record (trainer -> pruning, tracking, plots), a trial's
outcome (runner -> tracking, the progress reporter), and what hears them (`TrialListener`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optflow.contract import (
    BEST_VAL_LOSS,
    EPOCH_METRICS,
    EPOCHS_RUN,
    N_PARAMS,
    PEAK_DEVICE_MEMORY,
    SAMPLES_PER_SECOND,
    TRAIN_SECONDS,
)


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of training measured."""

    epoch: int  # 0-based
    train_loss: float | None  # mean data loss over the epoch's batches (without the L1 penalty)
    val_loss: float | None  # None only from an own loop that does not report it
    lr: float | None  # learning rate used during this epoch
    steps: int  # optimiser steps taken in this epoch
    seconds: float  # wall time since training started, at the end of this epoch
    val_accuracy: float | None = None
    val_rmse: float | None = None
    val_bpc: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)  # an own loop's other metrics, by name
    samples: int = 0  # training rows this epoch processed (0 from an own loop)
    peak_memory_mb: float | None = None  # CUDA: the most memory torch allocated on the device so far (MiB)

    def metrics(self) -> dict[str, float]:
        """The epoch metrics that apply to this task, by name."""
        values = {name: getattr(self, name) for name in EPOCH_METRICS}
        return {**{name: float(value) for name, value in values.items() if value is not None}, **self.extra}


def best_value(records: Sequence[EpochRecord], metric: str, maximize: bool) -> float:
    """The best value of `metric` over the epochs (NaN when there are none)."""
    values = [r.metrics()[metric] for r in records if metric in r.metrics()]
    if not values:
        return math.nan
    return max(values) if maximize else min(values)


@dataclass(frozen=True)
class TrialOutcome:
    """How one trial (or one `optflow train` run) ended."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL, as Optuna names it
    value: float | None  # the trial's result: the best monitored value of a complete trial, else None
    records: Sequence[EpochRecord]
    params: Mapping[str, Any] = field(default_factory=dict)  # what the sampler chose
    started_ms: int = 0  # wall clock when the trial started (ms): its run's start time and metric timestamps
    reason: str = ""  # why it did not complete
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM (run again later, not a failure of its own)
    study_best: float | None = None  # the study's best value once this trial ended, as this worker knows it
    improved: bool = False  # this trial set `study_best`
    ended_ms: int = 0  # wall clock when it ended (ms): its run's end time, however late the run is logged
    metric: str = "val_loss"  # the study's metric, whose best value the run carries for sorting runs
    artifacts: Sequence[str] = ()  # files an own loop handed over, logged with the run
    batch_size_used: int | None = None  # set when CUDA ran out of memory and the trial was retried on half
    resumed_from: int | None = None  # the epoch it resumed at from a checkpoint (its earlier epochs replayed)
    measures: Mapping[str, float] = field(default_factory=dict)  # what objectives and constraints read (n_params)
    feasible: bool = True  # met every `study.constraints` bound (a complete trial)

    @property
    def complete(self) -> bool:
        return self.state == "COMPLETE"

    def final_metrics(self) -> dict[str, float]:
        """The once-per-run metrics; the best values only for a run that completed (never a pruned run's):
        best_val_loss, and `best_<metric>` (the trial's value) when the study optimises another metric."""
        records = self.records
        final = {EPOCHS_RUN: float(len(records)), TRAIN_SECONDS: records[-1].seconds if records else 0.0}
        samples = sum(r.samples for r in records)
        if samples and final[TRAIN_SECONDS] > 0:
            final[SAMPLES_PER_SECOND] = samples / final[TRAIN_SECONDS]
        peaks = [r.peak_memory_mb for r in records if r.peak_memory_mb is not None]
        if peaks:
            final[PEAK_DEVICE_MEMORY] = max(peaks)
        if N_PARAMS in self.measures:
            final[N_PARAMS] = self.measures[N_PARAMS]
        losses = [r.val_loss for r in records if r.val_loss is not None]
        if self.complete and losses:
            final[BEST_VAL_LOSS] = min(losses)
            if self.metric != "val_loss" and self.value is not None:
                final[f"best_{self.metric}"] = self.value
        return final


class BestSoFar:
    """The best value seen so far in one direction."""

    def __init__(self, maximize: bool, values: Sequence[float] = ()) -> None:
        self.maximize = maximize
        self.value: float | None = None
        for value in values:
            self.offer(value)

    def offer(self, value: float | None) -> bool:
        """Take `value` if it is better; returns whether it was."""
        if value is None or math.isnan(value):
            return False
        if self.value is None or (value > self.value if self.maximize else value < self.value):
            self.value = value
            return True
        return False


class TrialListener:
    """Told what happens in one trial, in order and one way (`optflow.study.trial.run_trial` says when); each
    method does nothing unless a listener overrides it. The one thing that may come back is a stop: `epoch` may
    raise `optuna.TrialPruned`."""

    def started(self, config: Any, data: Any) -> None:
        """Training starts with this config on this data set (None for an own loop, which loads its own); it
        starts again, on half the batch, after CUDA ran out of memory."""

    def resumed(self, epoch: int) -> None:
        """It continues a checkpoint at this epoch; the earlier epochs' records follow again."""

    def epoch(self, record: EpochRecord) -> None:
        """An epoch ended."""

    def ended(self, outcome: TrialOutcome, model: Any) -> None:
        """The trial ended, however it did; `model` holds the best epoch's weights, or None."""
