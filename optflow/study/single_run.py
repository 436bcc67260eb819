"""One training run with the config's fixed params (`optflow train`): a trial without a search, tracked like one."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from optflow.config import Config
from optflow.data import load_dataset
from optflow.records import EpochRecord, TrialListener
from optflow.study.checkpoints import checkpoint_dir, training_checkpoint
from optflow.study.interrupts import protected
from optflow.study.options import RunOptions
from optflow.study.preflight import preflight
from optflow.study.trial import Listeners, run_trial
from optflow.tracking.train_tracker import TrainTracker
from optflow.training.checkpoint import TrialCheckpoint


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `optflow train`."""

    records: list[EpochRecord]
    value: float  # the best value of `study.metric` over the epochs; NaN when training failed
    run_id: str | None
    fail_reason: str = ""


class _EpochCallback(TrialListener):
    """`run_training`'s `on_epoch`, as a trial listener."""

    def __init__(self, on_epoch: Callable[[EpochRecord], None] | None) -> None:
        self._on_epoch = on_epoch

    def epoch(self, record: EpochRecord) -> None:
        if self._on_epoch is not None:
            self._on_epoch(record)


def run_training(
    config: Config, options: RunOptions | None = None, on_epoch: Callable[[EpochRecord], None] | None = None
) -> TrainResult:
    """Train once on the config's training section, through the same runner as a study's trials: with the retry
    on half the batch when CUDA runs out of memory, and checkpoints, so that the same command after Ctrl-C or
    SIGTERM resumes where it stopped. Logs params, epochs, curve, config and model."""
    options = options or RunOptions()
    data = None if config.own_loop else load_dataset(config.data)
    if data is not None:
        preflight(config, data)
    directory = checkpoint_dir(config, f"{config.study.name}-train")  # a directory it cannot write: refused here
    tracker = TrainTracker(config, tracking_uri=options.tracking_uri) if options.tracking else None
    run = tracker.start(data) if tracker else None
    made: list[TrialCheckpoint] = []  # one per config trained (a second after an out-of-memory retry)

    def checkpoints(trained: Config) -> TrialCheckpoint:
        made.append(training_checkpoint(directory, trained))
        return made[-1]

    try:
        with protected():  # Ctrl-C stops training between two steps, after a checkpoint of that step
            events = Listeners(run or TrialListener(), _EpochCallback(on_epoch))
            outcome = run_trial(config, data, events, checkpoints=checkpoints if directory else None)
    finally:
        if tracker:
            tracker.close()
    for checkpoint in made:  # ended for good (an interrupt leaves its checkpoint for the rerun)
        checkpoint.path.unlink(missing_ok=True)
    value = outcome.value if outcome.complete else math.nan
    return TrainResult(list(outcome.records), value, run.run_id() if run else None, outcome.reason)
