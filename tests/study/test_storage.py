"""Optuna's heartbeat, as optflow sets it up: a dead worker's trial is retried and reported."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from processes import RANDOM_SPACE, write_config

from optflow.errors import EXIT_FAILURE

# The largest file a process may write in the full-disk test: room for MLflow's database (about 1 MB once
# created) and a few trials, not for 30.
DISK = 1_400_000


def test_stale_trial_callback_says_whether_the_dead_trial_is_retried():
    from optflow.study.storage import MAX_RETRIES, StaleTrialCallback

    study = optuna.create_study()
    reasons: list[str] = []
    callback = StaleTrialCallback()
    callback.on_stale = lambda trial, reason: reasons.append(reason)
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    for _ in range(MAX_RETRIES + 1):  # the original trial dies, then its first retry, then its second
        callback(study, study.trials[-1])
        if study.trials[-1].state == TrialState.WAITING:  # Optuna queued a retry: it runs and dies too
            study.tell(study.ask(), state=TrialState.FAIL)
    assert [r.endswith("retried as a new trial") for r in reasons] == [True, True, False]
    assert reasons[-1].endswith(f"({MAX_RETRIES} retries used)")
    assert len(study.trials) == 1 + MAX_RETRIES


@pytest.mark.slow
def test_a_full_disk_stops_the_study_in_one_line_and_the_rerun_finishes_it(tmp_path):
    """The disk fills up mid-study (a file-size limit on the process stands for it): one line, no traceback;
    once there is room again, the same command finishes the study and nothing stays RUNNING anywhere."""
    config = write_config(tmp_path, "full", "random", 30, RANDOM_SPACE, {"epochs": 5, "batch_size": 32})
    env = {**os.environ, "OPTFLOW_STORAGE": f"sqlite:///{tmp_path}/optuna.db"}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db", OPTFLOW_HEARTBEAT_SECONDS="1")
    env.update(OPTFLOW_GRACE_SECONDS="2")
    command = [sys.executable, "-m", "optflow", "tune", "--config", str(config), "--quiet"]

    def disk_of(size: int):
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    full = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, preexec_fn=disk_of(DISK))
    assert full.returncode == EXIT_FAILURE, full.stderr
    assert "Traceback" not in full.stderr and full.stdout == ""
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("optflow: error: the study's storage 'sqlite:///") and "failed mid-study: " in last
    study = optuna.load_study(study_name="full", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert 0 < sum(t.state == TrialState.COMPLETE for t in study.trials) < 30  # it failed mid-study

    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    trials = optuna.load_study(study_name="full", storage=f"sqlite:///{tmp_path}/optuna.db").trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 30
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("full").experiment_id], max_results=1000)
    assert runs and "RUNNING" not in {run.info.status for run in runs}
