"""One trial: sample its params, train, report each epoch to Optuna, hand the outcome to tracking."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field

import optuna
import torch
from torch import nn

from optflow.config import Config
from optflow.contract import (
    ATTR_BATCH_SIZE_USED,
    ATTR_FAIL_REASON,
    ATTR_INTERRUPTED,
    ATTR_RESUMED_FROM,
    INTERRUPTED_REASON,
)
from optflow.data import Dataset
from optflow.models import build_model
from optflow.records import BestSoFar, EpochRecord, TrialOutcome, best_value
from optflow.search.space import suggest
from optflow.study.checkpoints import CheckpointStore
from optflow.study.interrupts import interruptible
from optflow.study.options import Reporter
from optflow.study.own_loop import OwnLoopError, TrialReporter, run_own_loop
from optflow.tracking.tracker import NullTracker, StudyTracker
from optflow.training import TrainingDiverged, fit, resolve_device
from optflow.training.checkpoint import Checkpoints
from optflow.training.criteria import metric_functions
from optflow.training.optim import halved_batch


def trial_measures(
    config: Config, records: list[EpochRecord], value: float, model: nn.Module | None
) -> dict[str, float]:
    """What objectives and constraints may name: each epoch metric at the epoch `study.metric` was best (the
    weights early stopping keeps), the training's seconds and, for optflow's models, the trainable params."""
    best = next((r for r in records if r.metrics().get(config.study.metric) == value), records[-1])
    measures = {name: float(v) for name, v in best.metrics().items()}
    measures["train_seconds"] = records[-1].seconds
    if model is not None:
        measures["n_params"] = float(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return measures


@dataclass
class Objective:
    """Runs one trial: sample params, train, report epochs to Optuna, hand the outcome to tracking."""

    config: Config
    data: Dataset | None  # None for an own loop, which loads its own
    tracker: StudyTracker | NullTracker
    best: BestSoFar  # the study's best value as this worker knows it
    reporter: Reporter
    worker: str = ""  # this worker's name among several
    after_sampling: Callable[[], None] = lambda: None  # releases the study lock once the params are drawn
    checkpoints: CheckpointStore | None = None  # where trials keep their checkpoints; None: they keep none
    seconds: list[float] = field(default_factory=list)  # wall time of each trial this worker ran

    def __post_init__(self) -> None:
        self.metrics = metric_functions(self.config.study.extra_metrics)  # the user's, resolved once

    def _train(
        self,
        config: Config,
        on_epoch: Callable[[EpochRecord], None],
        retried: Callable[[Config, int], None],
        checkpoints: Callable[[Config], Checkpoints | None],
    ) -> nn.Module:
        """Build and train the trial's model and return it. When CUDA runs out of memory before the first epoch
        ends, the trial is retried once on half the batch with twice the accumulation (the same rows per step,
        so the same learning rate and schedule), and `retried` hears of it."""
        halved: Config | None = None
        while True:
            model = build_model(config, self.data.spec)
            saved = checkpoints(config)
            study = config.study
            epochs = fit(model, self.data, config.training, study.metric, study.maximize, self.metrics, saved)
            # Ctrl-C stops the trial only inside training, not mid-bookkeeping: with checkpoints, between two steps
            zone = nullcontext if saved else interruptible
            trained_an_epoch = False
            try:
                while True:
                    with zone():
                        record = next(epochs, None)
                    if record is None:
                        return model
                    trained_an_epoch = True
                    on_epoch(record)
            except torch.cuda.OutOfMemoryError:
                rows = len(self.data.train_set) if self.data.train_set is not None else len(self.data.y_train)
                batch = halved_batch(config.training, rows)
                if trained_an_epoch or halved is not None or batch is None:
                    raise
                accumulation = config.training.gradient_accumulation_steps * 2
                halved = config.with_params({"batch_size": batch, "gradient_accumulation_steps": accumulation})
            del model, epochs  # outside the except block, whose traceback holds the failed step's tensors
            torch.cuda.empty_cache()
            config = halved
            retried(halved, halved.training.batch_size)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        started, started_ms = time.perf_counter(), int(time.time() * 1000)
        params = suggest(trial, self.config)
        self.after_sampling()
        config = self.config.with_params(params)
        device = "" if config.own_loop else str(resolve_device(config.training.device))
        run = self.tracker.trial_run(trial, params, config, device)
        study = config.study
        records: list[EpochRecord] = []
        state, reason, interrupted, value, artifacts = "FAIL", "", False, None, []

        def on_epoch(record: EpochRecord) -> None:
            if not records and checkpoints and checkpoints.resumed_from is not None:
                trial.set_user_attr(ATTR_RESUMED_FROM, checkpoints.resumed_from)
            records.append(record)
            if not study.multi_objective:  # Optuna's `Trial.report` takes one objective's values
                trial.report(record.metrics()[study.metric], record.epoch)
            run.epoch(record)
            if study.pruner != "none" and not study.multi_objective and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {record.epoch} by the {study.pruner} pruner")

        model, batch_size_used, checkpoints, measures, feasible = None, None, None, {}, True

        def trial_checkpoints(trained: Config) -> Checkpoints | None:
            nonlocal checkpoints
            checkpoints = self.checkpoints.for_trial(trial, trained) if self.checkpoints else None
            return checkpoints

        def retried(halved: Config, batch: int) -> None:
            nonlocal batch_size_used
            batch_size_used = batch
            run.config = halved  # its config.yaml: what ran
            trial.set_user_attr(ATTR_BATCH_SIZE_USED, batch)
            self.reporter.notice(
                f"trial {trial.number}: CUDA out of memory; retrying with batch_size {batch} and "
                f"gradient_accumulation_steps {halved.training.gradient_accumulation_steps}"
            )

        try:
            if config.own_loop:
                artifacts = run_own_loop(config, params, TrialReporter(trial.number, config, on_epoch))
                if not records:
                    raise OwnLoopError("objective returned without reporting an epoch (reporter.epoch)")
            else:
                model = self._train(config, on_epoch, retried, trial_checkpoints)
            value = best_value(records, study.metric, study.maximize)
            measures = trial_measures(config, records, value, model)
            for constraint in study.constraint_list:
                violation = constraint.violation(measures[constraint.name])
                trial.set_constraint(str(constraint), violation)
                feasible = feasible and violation <= 0
            state = "COMPLETE"
            if study.multi_objective:
                return tuple(measures[objective.name] for objective in study.objective_list)
            return value
        except optuna.TrialPruned as error:
            state, reason = "PRUNED", str(error)
            raise
        except (TrainingDiverged, OwnLoopError) as error:
            reason = f"diverged: {error}" if isinstance(error, TrainingDiverged) else str(error)
            trial.set_user_attr(ATTR_FAIL_REASON, reason)
            raise
        except KeyboardInterrupt:
            reason, interrupted = INTERRUPTED_REASON, True
            with suppress(Exception):  # a storage that fails now must not hide the interrupt
                trial.set_user_attr(ATTR_INTERRUPTED, True)  # the next session runs it again
            raise
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            trial.set_user_attr(ATTR_FAIL_REASON, reason)
            raise
        finally:
            self.seconds.append(time.perf_counter() - started)
            resumed_from = checkpoints.resumed_from if checkpoints else None
            improved = self.best.offer(value if feasible else None)  # a trial that breaks a bound is never best
            outcome = TrialOutcome(
                number=trial.number,
                state=state,
                value=value,
                records=tuple(records),
                params=params,
                started_ms=started_ms,
                reason=reason,
                interrupted=interrupted,
                study_best=self.best.value,
                improved=improved,
                ended_ms=int(time.time() * 1000),
                metric=study.metric,
                artifacts=tuple(artifacts),
                batch_size_used=batch_size_used,
                resumed_from=resumed_from,
                measures=measures,
                feasible=feasible,
            )
            run.finish(outcome, model)
            self.reporter.trial_ended(outcome, self.worker)
