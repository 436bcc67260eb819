"""One trial, top to bottom: build the model and train it (or call the user's loop), then say how it ended.

`run_trial` is the only runner of a trial: the study's Optuna objective (`objective.py`) and `optflow train`
(`single_run.py`) both call it. What happens goes out to its listeners, in order and one way:

    started(config)      training starts with this config (again, on half the batch, after CUDA ran out of memory)
    resumed(epoch)       it continues a checkpoint at this epoch (the earlier epochs' records follow again)
    epoch(record)        an epoch ended
    ended(outcome, model)  always, however the trial ended; `model` holds the best epoch's weights, or None

Listeners never call back into the runner or the study. The one thing that comes back is a stop: a listener's
`epoch` may raise `optuna.TrialPruned` (Optuna's pruner said so), which ends the trial PRUNED.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import optuna
import torch
from torch import nn

from optflow.config import Config
from optflow.contract import INTERRUPTED_REASON
from optflow.data import Dataset, load_dataset
from optflow.models import build_model
from optflow.records import BestSoFar, EpochRecord, TrialListener, TrialOutcome, best_value
from optflow.study.interrupts import interruptible
from optflow.study.own_loop import OwnLoopError, TrialReporter, run_own_loop
from optflow.study.preflight import preflight
from optflow.training import TrainingDiverged, fit
from optflow.training.checkpoint import TrialCheckpoint
from optflow.training.criteria import metric_functions
from optflow.training.optim import halved_batch


class TrialDataError(RuntimeError):
    """The data a trial's params ask for (a searched data field) could not be loaded: that trial fails."""


# What fails one trial while the study goes on: a diverged loss, an own loop's error, CUDA out of memory (a
# larger model or batch than the device holds; other params may fit), data its params cannot load. Anything else
# is a bug and stops the study.
TRIAL_FAILURES = (TrainingDiverged, OwnLoopError, torch.cuda.OutOfMemoryError, TrialDataError)

TrialCheckpointFor = Callable[[Config], "TrialCheckpoint | None"]  # the trial's checkpoint for the config it trains


class Listeners(TrialListener):
    """Several listeners heard as one: in the order given, and `ended` in reverse (as nested blocks close), each
    told even when one before it raised; the first error is raised again once all have heard."""

    def __init__(self, *listeners: TrialListener) -> None:
        self._listeners = listeners

    def started(self, config: Config, data: Dataset | None) -> None:
        for listener in self._listeners:
            listener.started(config, data)

    def resumed(self, epoch: int) -> None:
        for listener in self._listeners:
            listener.resumed(epoch)

    def epoch(self, record: EpochRecord) -> None:
        for listener in self._listeners:
            listener.epoch(record)

    def ended(self, outcome: TrialOutcome, model: nn.Module | None) -> None:
        first: BaseException | None = None
        for listener in reversed(self._listeners):
            try:
                listener.ended(outcome, model)
            except BaseException as error:  # noqa: BLE001 - a second Ctrl-C or a failing store: the rest still hear
                first = first or error
        if first is not None:
            raise first


@dataclass
class _Trained:
    """What training left so far: the model, and what it had to do on the way."""

    model: nn.Module | None = None
    batch_size_used: int | None = None  # half the batch, after CUDA ran out of memory
    resumed_from: int | None = None  # the epoch a checkpoint resumed it at
    artifacts: list[str] = field(default_factory=list)  # files an own loop handed over


def run_trial(
    config: Config,
    data: Dataset | None,
    events: TrialListener,
    *,
    number: int = 0,
    params: dict | None = None,
    checkpoints: TrialCheckpointFor | None = None,
    best: BestSoFar | None = None,
    reload_data: bool = False,
) -> TrialOutcome:
    """Run one trial of `config` (a trial's params already in it) on `data` (None for an own loop, which loads
    its own; with `reload_data`, the data of `config.data`, which the trial's params changed) and return how it
    ended: COMPLETE, PRUNED, or FAIL for a failure of its own (`TRIAL_FAILURES`).

    `params` are the sampled ones (for the record), `checkpoints` gives the trial's checkpoints, `best` is the
    study's best value as this worker knows it (a feasible complete trial offers its value to it). An interrupt
    (Ctrl-C, SIGTERM) and any other exception (a bug) are raised again once `ended` has been told.

    One function on purpose: the try that classifies how the trial ended and the finally that always tells
    `ended` must hold the whole trial, so that no ending goes unheard.
    """
    started_ms = int(time.time() * 1000)
    records: list[EpochRecord] = []
    trained = _Trained()
    state, reason, interrupted, value, measures, feasible = "FAIL", "", False, None, {}, True

    def on_epoch(record: EpochRecord) -> None:
        records.append(record)
        events.epoch(record)

    try:
        if config.own_loop:
            events.started(config, None)
            trained.artifacts = run_own_loop(config, TrialReporter(number, config, on_epoch))
            if not records:
                raise OwnLoopError("objective returned without reporting an epoch (reporter.epoch)")
        else:
            _train(config, _load(config) if reload_data else data, events, on_epoch, checkpoints, trained)
        value = best_value(records, config.study.metric, config.study.maximize)
        measures = trial_measures(config, records, value, trained.model)
        feasible = all(c.violation(measures[c.name]) <= 0 for c in config.study.constraint_list)
        state = "COMPLETE"
    except optuna.TrialPruned as error:
        state, reason = "PRUNED", str(error)
    except TRIAL_FAILURES as error:
        reason = f"diverged: {error}" if isinstance(error, TrainingDiverged) else _failure(error)
    except KeyboardInterrupt:
        reason, interrupted = INTERRUPTED_REASON, True
        raise
    except Exception as error:
        reason = _failure(error)
        raise
    finally:
        improved = best.offer(value if feasible else None) if best is not None else False
        outcome = TrialOutcome(
            number=number,
            state=state,
            value=value,
            records=tuple(records),
            params=params or {},
            started_ms=started_ms,
            reason=reason,
            interrupted=interrupted,
            study_best=best.value if best is not None else None,
            improved=improved,
            ended_ms=int(time.time() * 1000),
            metric=config.study.metric,
            artifacts=tuple(trained.artifacts),
            batch_size_used=trained.batch_size_used,
            resumed_from=trained.resumed_from,
            measures=measures,
            feasible=feasible,
        )
        events.ended(outcome, trained.model if state == "COMPLETE" else None)
    return outcome


def _load(config: Config) -> Dataset:
    """The data of a trial whose params change a data field, checked as the study's data was before it began."""
    try:
        with interruptible():  # a slow load is training time: Ctrl-C stops it at once
            data = load_dataset(config.data)
        preflight(config, data)
    except (KeyboardInterrupt, TrialDataError):
        raise
    except Exception as error:  # noqa: BLE001 - the user's factory, or data its params make unusable: other values may do
        raise TrialDataError(f"its data could not be loaded: {type(error).__name__}: {error}") from None
    return data


def _failure(error: BaseException) -> str:
    return str(error) if isinstance(error, OwnLoopError) else f"{type(error).__name__}: {error}"


def _train(
    config: Config,
    data: Dataset,
    events: TrialListener,
    on_epoch: Callable[[EpochRecord], None],
    checkpoints: TrialCheckpointFor | None,
    trained: _Trained,
) -> None:
    """Build and train the trial's model into `trained.model`. When CUDA runs out of memory before the first
    epoch ends, training starts once more on half the batch with twice the accumulation (the same rows per
    step, so the same learning rate and schedule)."""
    metrics = metric_functions(config.study.extra_metrics)  # the user's, resolved once
    while True:
        events.started(config, data)
        model = trained.model = build_model(config, data.spec)
        saved = checkpoints(config) if checkpoints else None
        study = config.study
        epochs = fit(model, data, config.training, study.metric, study.maximize, metrics, saved)
        # Ctrl-C stops the trial only inside training, not mid-bookkeeping: with checkpoints, between two steps
        zone = nullcontext if saved else interruptible
        trained_an_epoch = False
        try:
            while True:
                with zone():
                    record = next(epochs, None)
                if record is None:
                    return
                if not trained_an_epoch and saved is not None and saved.resumed_from is not None:
                    trained.resumed_from = saved.resumed_from
                    events.resumed(saved.resumed_from)
                trained_an_epoch = True
                on_epoch(record)
        except torch.cuda.OutOfMemoryError:
            batch = halved_batch(config.training, _rows(data))
            if trained_an_epoch or trained.batch_size_used is not None or batch is None:
                raise
        accumulation = config.training.gradient_accumulation_steps * 2
        config = config.with_params(
            {"training.batch_size": batch, "training.gradient_accumulation_steps": accumulation}
        )
        trained.batch_size_used = batch
        del model, epochs  # outside the except block, whose traceback holds the failed step's tensors
        trained.model = None
        torch.cuda.empty_cache()


def _rows(data: Dataset) -> int:
    return len(data.train_set) if data.train_set is not None else len(data.y_train)


def trial_measures(
    config: Config, records: Sequence[EpochRecord], value: float, model: nn.Module | None
) -> dict[str, float]:
    """What objectives and constraints may name: each epoch metric at the epoch `study.metric` was best (the
    weights early stopping keeps), the training's seconds and, for optflow's models, the trainable params."""
    best = next((r for r in records if r.metrics().get(config.study.metric) == value), records[-1])
    measures = {name: float(v) for name, v in best.metrics().items()}
    measures["train_seconds"] = records[-1].seconds
    if model is not None:
        measures["n_params"] = float(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return measures
