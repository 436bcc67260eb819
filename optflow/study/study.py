"""A study's life in one worker: open or join it, run trials until the budget is spent, resume, give the result."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from optflow.config import Config
from optflow.config.names import search_entry
from optflow.contract import ATTR_RUN_ID
from optflow.data import Dataset, load_dataset
from optflow.records import BestSoFar
from optflow.search.optuna_private import set_study_system_attr
from optflow.search.pruners import idle_pruner, make_pruner
from optflow.search.ranking import best_trial, first_value, is_feasible, ranked
from optflow.search.samplers import make_sampler
from optflow.study.budget import budget, in_flight, spends_budget, study_trials, trials_used
from optflow.study.checkpoints import (
    StudyCheckpoints,
    checkpoint_dir,
    remove_finished,
    requeue_interrupted,
    study_token,
)
from optflow.study.devices import pinned, use_device
from optflow.study.identity import check_identity, record_settings
from optflow.study.interrupts import protected
from optflow.study.lock import StudyLock
from optflow.study.objective import TrialFailed, TrialObjective
from optflow.study.options import ProgressReporter, RunOptions
from optflow.study.preflight import preflight
from optflow.study.result import StudyResult, stored_durations, study_result
from optflow.study.storage import HEARTBEAT_SECONDS, fail_stale_trials, open_storage, stale_trial_callback
from optflow.study.study_run import adopt_best_model, finish_study_run, last_trial_end_ms, open_study_run
from optflow.tracking.mlflow_runs import StudyRun
from optflow.tracking.model_artifact import find_logged_model
from optflow.tracking.tracker import NullTracker, StudyTracker
from optflow.urls import brief_error, mask_password

# How often a worker with nothing left to run looks at the others' trials (to finish or go stale); cheap reads.
POLL_SECONDS = min(1.0, HEARTBEAT_SECONDS)


class _FailedTrialFilter(logging.Filter):
    """Drops Optuna's two warnings about a failed trial (one with a traceback). Each failure is said once
    elsewhere: a diverged trial in its one line with the reason, an interrupt and a broken storage in one line
    from the command, and a bug in the traceback of the exception Optuna raises again."""

    def filter(self, record: logging.LogRecord) -> bool:
        words = record.getMessage().split(maxsplit=3)
        return not (len(words) >= 3 and words[0] == "Trial" and words[2] == "failed")


def _quiet_optuna() -> None:
    """Optuna's warnings and errors only, without its lines about failed trials (said once elsewhere)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for handler in logging.getLogger("optuna").handlers:
        if not any(isinstance(f, _FailedTrialFilter) for f in handler.filters):
            handler.addFilter(_FailedTrialFilter())


def max_epochs(config: Config) -> int | str:
    """The most epochs a trial can run (Hyperband's largest budget); "auto" for an own loop, whose epochs are its
    own."""
    if config.own_loop:
        return "auto"
    searched = search_entry(config, "training.epochs")
    if searched is None:
        return config.training.epochs
    return int(max(searched.choices) if searched.type == "categorical" else searched.high)


def effective_pruner(config: Config) -> str:
    """The configured pruner, or none with several objectives (Optuna's `Trial.report` takes one value)."""
    return "none" if config.study.multi_objective else config.study.pruner


def open_study(config: Config, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create the study or load it (resume or join); `check_identity` tells whether it is the same task."""
    study = optuna.create_study(
        storage=storage,
        study_name=config.study.name,
        sampler=make_sampler(config.study.sampler, config.study.seed, config.search, spends_budget),
        pruner=make_pruner(effective_pruner(config), max_epochs(config)),
        directions=config.study.directions,
        load_if_exists=True,
    )
    if study.metric_names is None:  # optuna-dashboard's plots then say "val_loss", not "Objective 0"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since Optuna 3.2
            study.set_metric_names([goal.name for goal in config.study.goals])
    return study


def run_study(
    config: Config,
    options: RunOptions | None = None,
    on_ready: Callable[[StudyRun | None], None] | None = None,
) -> StudyResult:
    """Run (or resume, or join) the study until its budget is spent, logging every trial to MLflow and Optuna.

    Any number of these can run at once on one storage, on one machine or many. All input is validated
    (config, data, storage, tracking store, the study's task) before any MLflow run or Optuna trial is made.
    `on_ready` runs once the study and its MLflow run exist (the launcher of local workers starts the others
    then); not at all when the budget was already spent.

    One function on purpose: its try/finally holds the lock and the tracking process for the whole session, so
    that whatever fails (an interrupt, a storage, a bug) the lock is freed and the study run ends as it should.
    """
    options = options or RunOptions()
    data = None if config.own_loop else load_dataset(config.data)  # bad data fails here, before anything is made
    if data is not None:
        preflight(config, data)
    config = pinned(config, options.worker_index, options.devices)
    use_device(config)
    lock = StudyLock(config.study.storage, config.study.name)
    tracker: StudyTracker | NullTracker = NullTracker()
    if options.tracking:
        tracker = StudyTracker(config, tracking_uri=options.tracking_uri, inline=options.inline_tracking)
    if effective_pruner(config) != config.study.pruner:
        options.reporter.notice(
            f"study.pruner {config.study.pruner} is off: Optuna defines pruning for one objective, and this study "
            f"has {len(config.study.directions)}"
        )
    status, if_changed, study, result = "FAILED", False, None, None
    try:
        _quiet_optuna()
        with lock.held():  # one worker at a time creates the databases (their schemas race), then the study
            storage = open_storage(config.study.storage)
            tracker.ready()  # a tracking store that cannot be used: refused before the study is made
            directory = checkpoint_dir(config)  # and an artifact store it cannot write
        with lock.held():
            study = open_study(config, storage)
            session = _join(study, config, data, tracker, directory)
        _tell_what_changed(session, config, options.reporter)
        if session.spent:  # nothing to run; what an earlier session left undone is mended here
            finish_study_run(study, config, tracker, lock)
            adopt_best_model(study, tracker, ended_before=[t.number for t in session.trials])
            status, if_changed = "FINISHED", True  # its run's status changes only if it was left open
            result = study_result(study, config, tracker.study_run_id, tracker.tracking_uri, (), _experiment(tracker))
            result = replace(result, already_spent=True)
        else:
            if on_ready is not None:
                on_ready(tracker.study_run)
            stale_trial_callback(storage).on_stale = tracker.close_stale_run
            if idle := idle_pruner(effective_pruner(config), max_epochs(config)):  # once every check has passed
                options.reporter.notice(idle)
            seconds = _run_trials(session, config, data, tracker, lock, options)
            status = "FINISHED"
            finish_study_run(study, config, tracker, lock)
            ended_before = [t.number for t in session.trials if t.state == TrialState.COMPLETE]
            adopt_best_model(study, tracker, ended_before)  # an earlier session's, if it stayed best
            result = study_result(
                study, config, tracker.study_run_id, tracker.tracking_uri, seconds, _experiment(tracker)
            )
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except Exception as error:
        if study is not None and not _writable(study):  # a full disk, a lost database server: not a bug
            url = mask_password(config.study.storage)
            raise StorageFailed(
                f"the study's storage {url!r} failed mid-study: {brief_error(error)}; trials that ended are "
                "recorded, and the same command finishes the study once the storage works again"
            ) from error
        raise
    finally:
        lock.close()
        others_running = tracker.study_run is not None and _in_flight(study)
        end_ms = _last_end(study) if status == "FINISHED" else None  # a FINISHED study ended with its last trial
        unlogged = tracker.close(status if status == "FINISHED" or not others_running else None, if_changed, end_ms)
    return replace(result, unlogged_runs=unlogged, model_uri=tracker.model_uri)


@dataclass(frozen=True)
class _Session:
    """What this session found when it joined the study."""

    study: optuna.Study
    trials: list[FrozenTrial]  # the study's trials as this session found them
    checkpoints: StudyCheckpoints | None
    changes: list[tuple[str, Any, Any]]  # settings changed since the study's last session
    resumed: list[int]  # interrupted trials queued to resume from their checkpoints
    spent: bool  # the budget was spent before this session: it runs nothing


def _join(
    study: optuna.Study,
    config: Config,
    data: Dataset | None,
    tracker: StudyTracker | NullTracker,
    checkpoint_directory: Path | None,
) -> _Session:
    """Under the study lock: check the study is this task, queue interrupted trials again, record this session's
    settings and open the study's MLflow run."""
    changes = check_identity(study, config, data)  # a study of another task: refused, nothing made
    checkpoints = None
    if checkpoint_directory is not None:
        checkpoints = StudyCheckpoints(checkpoint_directory, study_token(study))
    trials = study_trials(study)
    total = budget(config)
    resumed = _requeue(study, trials, checkpoints, total)
    if resumed:
        trials = study_trials(study)
    spent = trials_used(trials) >= total and not in_flight(trials)
    if spent:  # nothing runs, so nothing changes: the settings stay those the trials ran under
        changes = []
    else:
        record_settings(study, config)
    open_study_run(study, tracker, data, changes, reopen=not spent)
    return _Session(study, trials, checkpoints, changes, resumed, spent)


def _tell_what_changed(session: _Session, config: Config, reporter: ProgressReporter) -> None:
    if session.resumed:
        numbers = ", ".join(str(key) for key in session.resumed)
        plural = "s" if len(session.resumed) > 1 else ""
        reporter.notice(f"resuming interrupted trial{plural} {numbers} from checkpoints")
    if session.changes:
        said = ", ".join(f"{name} {before} -> {now}" for name, before, now in session.changes)
        reporter.notice(f"study {config.study.name!r}: {said} from trial {len(session.trials)} on")


def _run_trials(
    session: _Session,
    config: Config,
    data: Dataset | None,
    tracker: StudyTracker | NullTracker,
    lock: StudyLock,
    options: RunOptions,
) -> list[float]:
    """Run trials until the budget is spent; the wall time of each this worker ran."""
    study, reporter, total = session.study, options.reporter, budget(config)
    best = BestSoFar(config.study.maximize, [first_value(t) for t in ranked(study) if is_feasible(t)])
    objective = TrialObjective(
        config,
        data,
        tracker,
        best,
        reporter,
        options.worker,
        release_lock=lock.release,
        checkpoints=session.checkpoints,
    )
    reporter.start(config, total, min(trials_used(session.trials), total))
    try:
        _run_until_spent(study, objective, lock, total, reporter.progress, session.checkpoints)
    finally:
        reporter.close()
    return objective.seconds


def _requeue(
    study: optuna.Study, trials: list[FrozenTrial], checkpoints: StudyCheckpoints | None, total: int
) -> list[int]:
    """Queue the interrupted trials that left checkpoints, as many as the budget still takes (under the lock,
    with the `trials` read under it)."""
    used = trials_used(trials)
    if checkpoints is None or used >= total:
        return []
    return requeue_interrupted(study, checkpoints.directory, total - used, trials)


def _tidy(study: optuna.Study, checkpoints: StudyCheckpoints | None, study_over: bool = False) -> None:
    """Remove the checkpoints of trials that ended; a disk or a storage that fails here fails no trial."""
    if checkpoints is None:
        return
    try:
        remove_finished(study, checkpoints.directory, study_over)
    except Exception as error:  # noqa: BLE001 - tidying is best effort; the next trial's end tries again
        logging.getLogger("optflow").warning(
            "could not remove old checkpoints in %s: %s", checkpoints.directory, brief_error(error)
        )


class StorageFailed(RuntimeError):
    """The study's storage stopped working mid-study (a full disk, a lost database server)."""


def _writable(study: optuna.Study) -> bool:
    """Whether the storage still takes a write (a failed one tells a broken storage from a bug)."""
    try:
        set_study_system_attr(study, "optflow:alive", time.time())
        return True
    except Exception:  # noqa: BLE001 - any failure of the write says the storage is not usable
        return False


def _experiment(tracker: StudyTracker | NullTracker) -> str | None:
    return tracker.study_run.experiment_id if tracker.study_run else None


def _last_end(study: optuna.Study) -> int | None:
    try:
        return last_trial_end_ms(study)
    except Exception:  # noqa: BLE001 - a broken storage: end the run now
        return None


def _in_flight(study: optuna.Study) -> bool:
    """Whether another worker still runs a trial; False when the storage cannot tell."""
    try:
        return in_flight(study_trials(study))
    except Exception:  # noqa: BLE001 - a broken storage: nobody can go on with it
        return False


def result_of(config: Config, own: StudyResult, tracking_uri: str | None = None) -> StudyResult:
    """The study's result as its storage holds it (what a launcher of several workers reports, once they have
    all ended), with what only the launcher's own worker knows; the best model is looked up in `tracking_uri`
    when another worker logged it."""
    study = optuna.load_study(study_name=config.study.name, storage=open_storage(config.study.storage))
    result = study_result(study, config, own.study_run_id, own.tracking_uri, stored_durations(study), own.experiment_id)
    best = best_trial(study)
    model_uri = own.model_uri
    if model_uri is None and tracking_uri and best is not None and ATTR_RUN_ID in best.user_attrs:
        try:
            model_uri = find_logged_model(tracking_uri, best.user_attrs[ATTR_RUN_ID])
        except Exception as error:  # noqa: BLE001 - the study is done; only its summary line goes without it
            logging.getLogger("optflow").warning("could not look up the best model in MLflow: %s", brief_error(error))
    return replace(result, model_uri=model_uri)


def _run_until_spent(
    study: optuna.Study,
    objective: TrialObjective,
    lock: StudyLock,
    total: int,
    progress: Callable[[int], None],
    checkpoints: StudyCheckpoints | None,
) -> None:
    """Run trials while the budget lasts, then wait until no other worker's trial is running.

    The budget check and the trial's creation and sampling happen under the study lock, so workers never
    overshoot it. Waiting at the end is what lets a surviving worker notice a dead worker's trial (Optuna's
    heartbeat fails it after the grace period) and run its retry, so no trial stays RUNNING.
    """
    while True:
        with protected():  # a signal lands in the trial's training loop or after its bookkeeping
            lock.acquire()
            try:
                trials = study_trials(study)
                if trials_used(trials) >= total:  # Optuna checks for dead workers before each trial it starts
                    fail_stale_trials(study)  # a dead worker's trial turns into a waiting retry
                    trials = study_trials(study)
                if _requeue(study, trials, checkpoints, total):  # another worker's trial was interrupted: resume it
                    trials = study_trials(study)
                used = trials_used(trials)
                progress(min(used, total))
                ran = used < total or any(trial.state == TrialState.WAITING for trial in trials)
                if ran:
                    study.optimize(objective, n_trials=1, catch=(TrialFailed,), gc_after_trial=False)
            finally:
                lock.release()
        if ran:
            _tidy(study, checkpoints)  # the trial that just ended is COMPLETE, PRUNED or FAIL by now
            continue
        if not in_flight(trials):
            _tidy(study, checkpoints, study_over=used >= total)
            return
        time.sleep(POLL_SECONDS)  # polling the storage is how workers meet; the heartbeat sets the pace
