"""Tracking failures never stop the study and never hang: a store that cannot be used is refused up front in one
line; a server that dies mid-study leaves the study to finish in Optuna, says once what failed and, at the
end, how many trial runs could not be logged (exit 3); the same command, once the server is back, closes what
was left open. No password is ever printed."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pytest
from conftest import ROOT, count_rows, free_port, kill_server, start_server, stop_server
from mlflow import MlflowClient
from processes import RANDOM_SPACE, write_config

from optflow.errors import EXIT_UNLOGGED

DIGITS = str(ROOT / "configs" / "digits.yaml")
PASSWORD = "tr4ck-s3cret"


def optflow(*args: str, tracking: str, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    """`optflow ...` as a user runs it; a bounded wait stands for "does not hang"."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    env.pop("MLFLOW_RUN_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "optflow", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "tracking,expected",
    [
        (f"http://optflow:{PASSWORD}@127.0.0.1:{{port}}", "Connection refused"),
        ("foo://bar", "got 'foo://bar'"),
    ],
)
def test_a_store_that_cannot_be_used_is_refused_up_front(tmp_path, tracking, expected):
    tracking = tracking.format(port=free_port())  # nothing listens there
    result = optflow("tune", "--config", DIGITS, "--n-trials", "2", "--epochs", "1", tracking=tracking, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("optflow: error: the MLflow tracking store")
    assert expected in result.stderr and PASSWORD not in result.stderr + result.stdout
    assert count_rows(tmp_path / "optuna.db", "studies") == 0


def test_a_deleted_experiment_of_the_studys_name_is_refused(tmp_path):
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking)
    client.delete_experiment(client.create_experiment("digits"))
    result = optflow("tune", "--config", DIGITS, "--n-trials", "2", "--epochs", "1", tracking=tracking, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "study.experiment must not be a deleted MLflow experiment (restore it with `mlflow experiments" in (
        result.stderr
    )
    assert count_rows(tmp_path / "optuna.db", "studies") == 0 and count_rows(tmp_path / "mlflow.db", "runs") == 0


def serve_mlflow(backend: str, port: int):
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    return start_server(command, "Uvicorn running on")


@pytest.mark.slow
def test_a_server_dying_mid_study_does_not_stop_it_and_the_rerun_closes_what_was_left_open(
    tmp_path, migrated_mlflow_db
):
    port, backend = free_port(), f"sqlite:///{migrated_mlflow_db(tmp_path, 'backend.db')}"
    tracking = f"http://optflow:{PASSWORD}@127.0.0.1:{port}"
    config = write_config(tmp_path, "outage", "random", 8, RANDOM_SPACE, {"epochs": 30, "batch_size": 16})
    server = serve_mlflow(backend, port)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "OPTFLOW_STORAGE": f"sqlite:///{tmp_path}/optuna.db"}
    env.pop("MLFLOW_RUN_ID", None)
    command = [sys.executable, "-m", "optflow", "tune", "--config", str(config)]
    study = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = MlflowClient(f"http://127.0.0.1:{port}")

    def a_trial_run_ended() -> bool:
        experiment = client.get_experiment_by_name("outage")
        return bool(experiment and client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'"))

    try:
        wait_for(a_trial_run_ended, what="the first trial run to be logged")
    finally:
        kill_server(server)  # the server dies with the study half done
    out, err = study.communicate(timeout=300)

    assert study.returncode == EXIT_UNLOGGED, err
    trials = optuna.load_study(study_name="outage", storage=f"sqlite:///{tmp_path}/optuna.db").trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 8  # the study went on in Optuna
    assert err.count("MLflow tracking failed") == 1 and "Traceback" not in err  # warned once
    last = err.strip().splitlines()[-1]
    assert last.startswith("optflow: ") and "trial run(s) could not be logged to MLflow" in last
    assert PASSWORD not in out + err and "optflow:***@" in err

    server = serve_mlflow(backend, port)  # the server is back: the same command mends what it can
    try:
        again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert "has 8 of 8 trials" in again.stdout
        experiment = client.get_experiment_by_name("outage")
        runs = client.search_runs([experiment.experiment_id], max_results=100)
        assert runs and "RUNNING" not in {run.info.status for run in runs}
        by_number = {r.data.tags.get("optuna.trial_number"): r for r in runs if "mlflow.parentRunId" in r.data.tags}
        for number, run in by_number.items():
            assert run.data.tags["optuna.trial_state"] == trials[int(number)].state.name
    finally:
        stop_server(server)


def wait_for(condition, what: str, timeout: float = 180) -> None:
    from processes import wait_until

    wait_until(lambda: _quietly(condition), timeout=timeout, what=what)


def _quietly(condition) -> bool:
    try:
        return bool(condition())
    except Exception:  # noqa: BLE001 - the server may not answer yet
        return False
