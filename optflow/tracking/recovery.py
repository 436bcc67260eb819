"""Closing the trial runs a dead or interrupted session left RUNNING, as their Optuna trials ended.

Optuna's trial states are the truth: a run is closed with its trial's state, reason and end time, found by the
link in the trial's user attrs or by its trial-number tag under the study run. `ended_trials` reads the study in
the worker; the repairs run in the tracking process.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from mlflow.entities import RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from optflow.contract import (
    ATTR_FAIL_REASON,
    INTERRUPTED_STATUS,
    RUN_STATUS,
    TAG_FAIL_REASON,
    TAG_TRIAL_NUMBER,
    TAG_TRIAL_STATE,
)
from optflow.tracking.mlflow_runs import StudyRun, client

if TYPE_CHECKING:  # the tracking process, which runs the repairs, has no use for Optuna
    import optuna

CLOSED_LATER = "interrupted (Ctrl-C, SIGTERM or a lost worker) before its run was closed; closed by a later session"


def ended_trials(study: optuna.Study) -> dict[int, tuple[str, str, str, int | None]]:
    """Trial number -> (Optuna state, reason, MLflow status, end ms) of every ended trial, to repair runs left
    open."""
    from optuna.trial import TrialState

    ended = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        state = trial.state.name
        reason = trial.user_attrs.get(ATTR_FAIL_REASON, "")
        end = ms(trial.datetime_complete)
        if state == "FAIL" and not reason:  # no reason of its own: it was stopped, not failed
            ended[trial.number] = (state, CLOSED_LATER, INTERRUPTED_STATUS, end)
        else:
            ended[trial.number] = (state, reason, RUN_STATUS[state], end)
    return ended


def ms(moment: datetime | None) -> int | None:
    """A datetime (Optuna's are naive local time) as milliseconds since the epoch, as MLflow keeps times."""
    return None if moment is None else int(moment.timestamp() * 1000)


def repair_trial_runs(study_run: StudyRun, ended: Mapping[int, tuple[str, str, str, int | None]]) -> int:
    """Close the study's trial runs left RUNNING (by a crash, a full disk, a tracking outage) whose Optuna trials
    have ended, as Optuna holds them: `ended` maps trial number -> (state, reason, run status, end ms). Returns
    how many were closed."""
    mlflow = client(study_run.tracking_uri)
    query = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{study_run.run_id}' and attributes.status = 'RUNNING'"
    repaired, token = 0, None
    while True:
        page = mlflow.search_runs([study_run.experiment_id], query, max_results=1000, page_token=token)
        for run in page:
            number = run.data.tags.get(TAG_TRIAL_NUMBER, "")
            if number.isdigit() and int(number) in ended:
                state, reason, status, end_ms = ended[int(number)]
                tags = [RunTag(TAG_TRIAL_STATE, state)] + ([RunTag(TAG_FAIL_REASON, reason)] if reason else [])
                mlflow.log_batch(run.info.run_id, tags=tags)
                mlflow.set_terminated(run.info.run_id, status, end_time=end_ms)
                repaired += 1
        token = page.token
        if not token:
            return repaired


def fail_stale_run(
    study_run: StudyRun, trial_number: int, run_id: str | None, reason: str, end_ms: int | None = None
) -> str | None:
    """Close a dead worker's trial run as FAILED with its reason; returns the run id (None if never made).

    The run is the one linked in the trial's user attrs, or found by its trial-number tag when the worker
    died before linking it (a retried trial carries its predecessor's link, so the tag is checked).
    """
    mlflow = client(study_run.tracking_uri)
    run = mlflow.get_run(run_id) if run_id else None
    if run is None or run.data.tags.get(TAG_TRIAL_NUMBER) != str(trial_number):
        found = mlflow.search_runs(
            [study_run.experiment_id],
            filter_string=(
                f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{study_run.run_id}' and tags.`{TAG_TRIAL_NUMBER}` = '{trial_number}'"
            ),
            max_results=1,
        )
        run = found[0] if found else None
    if run is None or run.info.status != "RUNNING":
        return None if run is None else run.info.run_id
    mlflow.log_batch(run.info.run_id, tags=[RunTag(TAG_TRIAL_STATE, "FAIL"), RunTag(TAG_FAIL_REASON, reason)])
    mlflow.set_terminated(run.info.run_id, RUN_STATUS["FAIL"], end_time=end_ms)
    return run.info.run_id
