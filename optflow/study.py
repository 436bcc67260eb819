"""The study: open or join it, run trials until the budget is spent (with other workers), resume, report."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from optflow import tracking
from optflow.background import Background
from optflow.budget import budget, in_flight, study_trials, trials_used
from optflow.config import Config, flat_params, resolve_direction
from optflow.dashboard import mlflow_run_link, save_study_note
from optflow.data import Dataset, load_dataset
from optflow.errors import UsageError
from optflow.interrupts import protected
from optflow.objective import Objective
from optflow.records import EpochRecord
from optflow.samplers import make_pruner, make_sampler
from optflow.storage import HEARTBEAT_SECONDS, StudyLock, fail_stale_trials, open_storage, stale_trial_callback
from optflow.summary import study_summary_files
from optflow.training import TrainingDiverged
from optflow.urls import mask_password

# How often a worker with nothing left to run looks at the others' trials (to finish or go stale); cheap reads.
POLL_SECONDS = min(1.0, HEARTBEAT_SECONDS)
SUMMARY_ATTR = "optflow:summary_trials"  # study system attr: the trial count the summary artifacts show
TOP_TRIALS = 5  # rows of the final table of best trials


# ------------------------------------------------------------------------------------------------ study


def open_study(config: Config, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create the study or load it (resume); refuses a stored study whose direction differs."""
    direction = resolve_direction(config.study)
    study = optuna.create_study(
        storage=storage,
        study_name=config.study.name,
        sampler=make_sampler(config.study.sampler, config.study.seed, config.search),
        pruner=make_pruner(config.study.pruner),
        direction=direction,
        load_if_exists=True,
    )
    stored = study.direction.name.lower()
    if stored != direction:
        raise UsageError(
            f"study.direction must match the stored study {config.study.name!r} ({stored}); got {direction}"
        )
    return study


@dataclass(frozen=True)
class StudyResult:
    """What a finished session of a study gives back to its caller."""

    study_name: str
    n_trials: int
    n_complete: int
    best_value: float | None
    best_params: dict[str, Any]
    study_run_id: str | None
    tracking_uri: str | None
    seconds_per_trial: float
    top_trials: list[tuple[int, float, dict[str, Any]]] = field(default_factory=list)  # best first
    budget_spent: bool = True  # every trial of the budget ended (not so when workers died or were stopped)


def _study_summary(config: Config) -> str:
    return (
        f"optflow study **{config.study.name}** ({config.study.sampler} sampler, {config.study.n_trials} trials, "
        f"{resolve_direction(config.study)} `{config.study.metric}` on `{config.data.name}`)."
    )


def _dashboard_note(config: Config, storage_url: str) -> str:
    return (
        f"{_study_summary(config)}\n\nEach trial is a child run. Inspect the Optuna side with "
        f"`optuna-dashboard {mask_password(storage_url)}`."
    )


def _trial_line(trial, state: str, value: float | None, records: list[EpochRecord], study_best) -> str:
    shown = f"{value:.4f}" if value is not None and math.isfinite(value) else "-"
    best = f"{study_best:.4f}" if study_best is not None else "-"
    params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    return f"trial {trial.number:4d} {state:8s} value={shown:>8s} best={best:>8s} epochs={len(records):3d}  {params}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def run_study(
    config: Config,
    *,
    tracking_uri: str | None = None,
    tracking_enabled: bool = True,
    inline_tracking: bool = False,
    quiet: bool = False,
    worker: str = "",
    on_ready: Callable[[tracking.StudyRun | None], None] | None = None,
) -> StudyResult:
    """Run (or resume, or join) the study until its budget is spent, logging every trial to MLflow and Optuna.

    Any number of these can run at once on one storage, on one machine or many (`worker` names this one in
    its output). All input is validated (config, data, storage) before any MLflow run or Optuna trial is made.
    `on_ready` runs once the study and its MLflow run exist (the launcher of local workers starts them then).
    """
    data = load_dataset(config.data)  # bad data fails here, before anything is created
    lock = StudyLock(config.study.storage, config.study.name)
    background = Background(inline=inline_tracking) if tracking_enabled else None
    warm = None
    if background is not None:
        import mlflow

        tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        warm = background.submit(tracking.warm_up)  # the process imports MLflow while the study opens
    status = "FAILED"
    study, study_run, dataset = None, None, None
    try:
        if warm is not None:
            warm.result()
        storage, study, study_run, dataset = _open(config, data, lock, background, tracking_uri)
        if on_ready is not None:
            on_ready(study_run)
        if background is not None:
            stale_trial_callback(storage).on_stale = partial(_close_stale_run, background, study_run)

        total = budget(config)
        progress = None
        if not quiet and not worker:
            used = trials_used(study_trials(study))
            progress = tqdm(total=total, initial=min(used, total), unit="trial", desc=config.study.name)

        def on_trial_end(trial, state, value, records) -> None:
            line = _trial_line(trial, state, value, records, objective.study_best)
            if progress is not None:
                progress.write(line)
                if objective.study_best is not None:
                    progress.set_postfix_str(f"best {config.study.metric} {objective.study_best:.4g}")
            elif worker and not quiet:
                print(f"[{worker}] {line}", flush=True)

        objective = Objective(config, data, background, study_run, on_trial_end, dataset=dataset)
        objective.after_sampling = lock.release
        completed = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        if completed:
            objective.study_best = max(completed) if objective.maximize else min(completed)
        try:
            _run_until_spent(study, objective, lock, total, progress)
        finally:
            if progress is not None:
                progress.close()
        status = "FINISHED"
        if background is not None:
            _log_best_model(study, objective, background)
            _log_summary_once(study, config, lock, background, study_run)
        return _result(study, config, study_run.run_id if study_run else None, tracking_uri, objective.seconds)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        lock.close()
        if background is not None:
            if study_run is not None and (status == "FINISHED" or not _others_running(study)):
                background.submit(tracking.close_study_run, study_run, status)
            background.close()


def _open(config: Config, data: Dataset, lock: StudyLock, background: Background | None, tracking_uri: str | None):
    """Storage, study and the study's MLflow run, made by one worker at a time (schema creation races)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_run, dataset = None, None
    with lock.held():
        storage = open_storage(config.study.storage)
        study = open_study(config, storage)
        if background is not None:
            dataset = tracking.dataset_input(data.name, data.x_train.numpy(), data.y_train.numpy(), data.source)
            study_run = _open_study_run(config, study, background, tracking_uri, dataset)
    return storage, study, study_run, dataset


def study_result(config: Config, study_run_id: str | None = None, tracking_uri: str | None = None) -> StudyResult:
    """The study's result as its storage holds it (what a launcher of several workers reports)."""
    storage = open_storage(config.study.storage)
    study = optuna.load_study(study_name=config.study.name, storage=storage)
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    ]
    return _result(study, config, study_run_id, tracking_uri, durations)


def _open_study_run(config: Config, study: optuna.Study, background: Background, tracking_uri: str, dataset):
    """The study's MLflow run: found through the study's user attrs, or created once (under the study lock)."""
    study_run = background.submit(
        tracking.open_study_run,
        tracking_uri,
        study_name=config.study.name,
        experiment_name=config.study.experiment or config.study.name,
        existing_run_id=study.user_attrs.get("mlflow_parent_run_id"),
        launcher_run_id=os.environ.get("MLFLOW_RUN_ID"),
        tags={
            "optflow.study_name": config.study.name,
            "optflow.sampler": config.study.sampler,
            "optflow.storage": mask_password(config.study.storage),
        },
        params={
            k: mask_password(v)
            for section in ("study", "data", "model", "training")
            for k, v in flat_params(section, getattr(config, section)).items()
        },
        note=_dashboard_note(config, config.study.storage),
        dataset=dataset,
    ).result()
    if study.user_attrs.get("mlflow_parent_run_id") != study_run.run_id:
        study.set_user_attr("mlflow_parent_run_id", study_run.run_id)
        study.set_user_attr("mlflow_experiment_id", study_run.experiment_id)
        study.set_user_attr("mlflow_tracking_uri", mask_password(tracking_uri))
        link = mlflow_run_link(tracking_uri, study_run.experiment_id, study_run.run_id)
        save_study_note(study, f"{_study_summary(config)}\n\nMLflow study run: {link}")
    return study_run


def _run_until_spent(study: optuna.Study, objective: Objective, lock: StudyLock, total: int, progress) -> None:
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
                used = trials_used(trials)
                if progress is not None:
                    progress.n = min(used, total)
                    progress.refresh()
                if used < total or any(trial.state == TrialState.WAITING for trial in trials):
                    study.optimize(objective, n_trials=1, catch=(TrainingDiverged,), gc_after_trial=False)
                    continue
            finally:
                lock.release()
        if not in_flight(trials):
            return
        time.sleep(POLL_SECONDS)  # polling the storage is how workers meet; the heartbeat sets the pace


def _others_running(study: optuna.Study | None) -> bool:
    """Whether another worker still runs a trial of the study (this one has ended its own by now)."""
    return study is not None and in_flight(study_trials(study))


def _close_stale_run(background: Background, study_run: tracking.StudyRun, trial: FrozenTrial, reason: str) -> None:
    background.submit(tracking.fail_stale_run, study_run, trial.number, trial.user_attrs.get("mlflow_run_id"), reason)


def _log_summary_once(study, config, lock: StudyLock, background: Background, study_run) -> None:
    """The study run's summary artifacts, written by the first worker to finish the study (not by each)."""
    with lock.held():
        n_trials = len(study_trials(study))
        if study._storage.get_study_system_attrs(study._study_id).get(SUMMARY_ATTR) == n_trials:
            return
        study._storage.set_study_system_attr(study._study_id, SUMMARY_ATTR, n_trials)
    background.submit(tracking.log_study_artifacts, study_run, study_summary_files(study, config))


def _log_best_model(study: optuna.Study, objective: Objective, background: Background) -> None:
    best = objective.best_model
    if best is None:
        return
    if study.best_trial.number != best.trial_number:
        return  # another worker holds the study's best model and logs it
    background.submit(
        tracking.log_model,
        objective.study_run.tracking_uri,
        best.run.result(),
        best.model,
        objective.input_example,
        objective.config.study.register_model,
    )


def _result(study, config, study_run_id: str | None, tracking_uri, seconds: list[float]) -> StudyResult:
    trials = study_trials(study)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    ranked = sorted(complete, key=lambda t: t.value, reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
    return StudyResult(
        study_name=config.study.name,
        n_trials=len(trials),
        n_complete=len(complete),
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
        study_run_id=study_run_id,
        tracking_uri=mask_password(tracking_uri) if tracking_uri else None,
        seconds_per_trial=sum(seconds) / max(1, len(seconds)),
        top_trials=[(t.number, t.value, dict(t.params)) for t in ranked[:TOP_TRIALS]],
        budget_spent=trials_used(trials) >= budget(config) and not in_flight(trials),
    )
