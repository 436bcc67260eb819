"""The study's MLflow run as the study layer drives it: opened once, linked both ways, summarised once.

The tracker (`tracking/tracker.py`) logs; this module decides when, under the study's lock where several
workers must agree, and records in Optuna what was done (the study run's id, which summary is written, which
runs are tagged Pareto-optimal), so that a rerun or another worker finds it.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from optflow.config import Config
from optflow.contract import (
    ATTR_EXPERIMENT_ID,
    ATTR_PARENT_RUN_ID,
    ATTR_TRACKING_URI,
    SYSTEM_ATTR_PARETO_RUNS,
    SYSTEM_ATTR_SUMMARY,
)
from optflow.data import Dataset
from optflow.search.optuna_private import set_study_system_attr, study_system_attrs
from optflow.search.ranking import best_trial, pareto_trials
from optflow.study.lock import StudyLock
from optflow.tracking import recovery
from optflow.tracking.dashboard import save_study_note
from optflow.tracking.study_note import study_line
from optflow.tracking.tracker import ChangeList, NullTracker, StudyTracker
from optflow.urls import mask_password

Tracker = StudyTracker | NullTracker


def open_study_run(
    study: optuna.Study, tracker: Tracker, data: Dataset | None, changes: ChangeList = (), reopen: bool = True
) -> None:
    """Open the study's MLflow run, the one the study names or a new one, and link the two both ways; call under
    the study lock, so that of several workers only the first creates it. Runs a crashed session left RUNNING
    for trials that have ended are closed as Optuna holds them."""
    linked = study.user_attrs.get(ATTR_PARENT_RUN_ID)
    study_run = tracker.open(linked, len(study.get_trials(deepcopy=False)), data, changes, reopen)
    if study_run is None:
        return
    if linked != study_run.run_id:
        study.set_user_attr(ATTR_PARENT_RUN_ID, study_run.run_id)
        study.set_user_attr(ATTR_EXPERIMENT_ID, study_run.experiment_id)
        study.set_user_attr(ATTR_TRACKING_URI, mask_password(tracker.tracking_uri))
        save_study_note(study, f"{study_line(tracker.config)}\n\nMLflow study run: {tracker.study_run_link()}")
    else:
        tracker.repair(recovery.ended_trials(study))


def finish_study_run(study: optuna.Study, config: Config, tracker: Tracker, lock: StudyLock) -> None:
    """The study's budget is spent: log the best models this worker holds, and the summary once.

    The summary is marked as written only once it is stored, so that an interrupt or a tracking failure during
    it leaves the next session to write it.
    """
    if tracker.study_run is None:
        return
    best = best_trial(study)
    front = pareto_trials(study) if config.study.multi_objective else []
    tracker.log_kept_models(best, front)
    with lock.held():  # the first worker to finish the study writes its summary, not each
        n_trials = len(study.get_trials(deepcopy=False))
        attrs = study_system_attrs(study)
        if attrs.get(SYSTEM_ATTR_SUMMARY) == n_trials:
            return
        tagged_before = attrs.get(SYSTEM_ATTR_PARETO_RUNS, [])
        tagged = tracker.tag_pareto_runs(front, tagged_before)
        if tagged or tagged_before:
            set_study_system_attr(study, SYSTEM_ATTR_PARETO_RUNS, tagged)
        if tracker.log_summary(study, best, front):
            set_study_system_attr(study, SYSTEM_ATTR_SUMMARY, n_trials)


def adopt_best_model(study: optuna.Study, tracker: Tracker, ended_before: list[int]) -> None:
    """When this worker logged no best model, the one an earlier session or another worker logged becomes the
    session's; it is registered under `register_model` when the best trial ended before this session (no
    worker of this session is logging its model)."""
    if tracker.study_run is None:
        return
    best: FrozenTrial | None = best_trial(study)
    tracker.adopt_best_model(best, register=best is not None and best.number in ended_before)


def last_trial_end_ms(study: optuna.Study) -> int | None:
    """When the study's last ended trial ended: the study run's end, however long after it a session stops."""
    ends = [t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    return recovery.ms(max(ends)) if ends else None
