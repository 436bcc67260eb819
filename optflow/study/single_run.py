"""One training run with the config's fixed params (`optflow train`): a trial without a search, tracked like one."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from optflow.config import Config
from optflow.contract import INTERRUPTED_REASON
from optflow.data import load_dataset
from optflow.models import build_model
from optflow.records import EpochRecord, TrialOutcome, best_value
from optflow.study.options import RunOptions
from optflow.study.own_loop import OwnLoopError, TrialReporter, run_own_loop
from optflow.study.preflight import preflight
from optflow.tracking.train_tracker import NullTrainTracker, TrainTracker
from optflow.training import TrainingDiverged, fit
from optflow.training.criteria import metric_functions


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `optflow train`."""

    records: list[EpochRecord]
    value: float  # the best value of `study.metric` over the epochs; NaN when training failed
    run_id: str | None
    fail_reason: str = ""


def run_training(
    config: Config, options: RunOptions | None = None, on_epoch: Callable[[EpochRecord], None] | None = None
) -> TrainResult:
    """Train once on the config's training section; logs params, epochs, curve, config and model."""
    options = options or RunOptions()
    data = None if config.own_loop else load_dataset(config.data)
    if data is not None:
        preflight(config, data)
    tracker: TrainTracker | NullTrainTracker = NullTrainTracker()
    if options.tracking:
        tracker = TrainTracker(config, tracking_uri=options.tracking_uri)
    run = tracker.start(data)
    started_ms = int(time.time() * 1000)
    maximize = config.study.maximize
    records: list[EpochRecord] = []
    state, reason, interrupted, model, artifacts = "FAIL", "", False, None, []

    def record_epoch(record: EpochRecord) -> None:
        records.append(record)
        run.epoch(record)
        if on_epoch is not None:
            on_epoch(record)

    try:
        if data is None:  # the user's loop, called once with its own arguments
            artifacts = run_own_loop(config, {}, TrialReporter(0, config, record_epoch))
        else:
            model = build_model(config, data.spec)
            metrics = metric_functions(config.study.extra_metrics)
            for record in fit(model, data, config.training, config.study.metric, maximize, metrics):
                record_epoch(record)
        state = "COMPLETE"
    except (TrainingDiverged, OwnLoopError) as error:
        reason = f"diverged: {error}" if isinstance(error, TrainingDiverged) else str(error)
    except KeyboardInterrupt:
        reason, interrupted = INTERRUPTED_REASON, True
        raise
    finally:
        value = best_value(records, config.study.metric, maximize) if state == "COMPLETE" else math.nan
        outcome = TrialOutcome(
            number=0,
            state=state,
            value=value if state == "COMPLETE" else None,
            records=tuple(records),
            started_ms=started_ms,
            reason=reason,
            interrupted=interrupted,
            ended_ms=int(time.time() * 1000),
            metric=config.study.metric,
            artifacts=tuple(artifacts),
        )
        run.finish(outcome, model)
        tracker.close()
    return TrainResult(records, value, run.run_id(), reason)
