"""Many workers, one study on a real PostgreSQL server: exact budgets, exactly-once grid, crash recovery."""

from __future__ import annotations

import signal

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from processes import (
    RANDOM_SPACE,
    finish,
    param_sets,
    study_runs,
    trials_in_training,
    tune,
    wait_until,
    write_config,
)

from optflow.search.optuna_private import retried_trial_number

pytestmark = pytest.mark.slow

GRID_12 = {
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
    "lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True, "grid": [0.003, 0.03]},
    "schedule": {"type": "categorical", "choices": ["constant", "cosine"]},
}


def test_two_launchers_of_two_workers_spend_a_budget_of_10_on_distinct_grid_points(tmp_path, postgres_url):
    """Two `optflow tune --workers 2` started at once, as on two machines: four workers, one study, one study
    run; the budget (10 of the grid's 12 points) is spent exactly, and no grid point twice."""
    config = write_config(tmp_path, "grid12", "grid", 10, GRID_12)
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    launchers = [tune(config, postgres_url, tracking, "--workers", "2") for _ in range(2)]
    outputs = [finish(launcher) for launcher in launchers]
    assert any("10 complete of 10 trials" in output for output in outputs)

    study = optuna.load_study(study_name="grid12", storage=postgres_url)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 10
    assert len(param_sets(trials)) == 10
    assert len({t.user_attrs["worker"] for t in trials}) > 1  # the work was shared
    parent, children = study_runs(tracking, "grid12")
    assert len(children) == 10
    assert {child.info.status for child in children} == {"FINISHED"}
    assert parent.info.status == "FINISHED"
    assert study.user_attrs["mlflow_parent_run_id"] == parent.info.run_id
    linked = {t.user_attrs["mlflow_run_id"] for t in trials}
    assert linked == {child.info.run_id for child in children}


def test_a_worker_killed_mid_trial_is_recovered_by_the_other(tmp_path, postgres_url):
    budget = 6
    config = write_config(tmp_path, "crash", "random", budget, RANDOM_SPACE, {"epochs": 60, "batch_size": 8})
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    fast_heartbeat = {"OPTFLOW_HEARTBEAT_SECONDS": "1", "OPTFLOW_GRACE_SECONDS": "3"}
    victim = tune(config, postgres_url, tracking, env=fast_heartbeat)
    survivor = tune(config, postgres_url, tracking, env=fast_heartbeat)
    storage = optuna.storages.RDBStorage(postgres_url)

    def victims_running_trial():
        mine = [t for t in trials_in_training(storage, "crash") if t.user_attrs["worker"].endswith(f":{victim.pid}")]
        return mine[0] if mine else None

    killed = wait_until(victims_running_trial, what="a trial of the victim in mid-training")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    finish(survivor)

    study = optuna.load_study(study_name="crash", storage=storage)
    trials = study.get_trials()
    assert trials[killed.number].state == TrialState.FAIL
    assert sum(t.state == TrialState.COMPLETE for t in trials) == budget
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    retry = [t for t in trials if retried_trial_number(t) == killed.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == killed.params

    parent, children = study_runs(tracking, "crash")
    by_number = {int(run.data.tags["optuna.trial_number"]): run for run in children}
    dead_run = by_number[killed.number]
    assert dead_run.info.status == "FAILED"
    assert dead_run.data.tags["optflow.fail_reason"].startswith("worker lost: no heartbeat")
    assert by_number[retry[0].number].data.tags["optflow.retry_of"] == str(killed.number)
    assert {run.info.status for run in children} <= {"FINISHED", "FAILED"}
    assert parent.info.status == "FINISHED"


def test_sigterm_ends_the_trial_as_killed_and_a_rerun_finishes_the_study(tmp_path, postgres_url):
    config = write_config(tmp_path, "resume", "random", 4, RANDOM_SPACE, {"epochs": 60, "batch_size": 8})
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    first = tune(config, postgres_url, tracking)
    storage = optuna.storages.RDBStorage(postgres_url)

    interrupted = wait_until(lambda: trials_in_training(storage, "resume"), what="a trial in mid-training")[0]
    first.send_signal(signal.SIGTERM)
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 130, output

    parent, children = study_runs(tracking, "resume")
    assert parent.info.status == "KILLED"
    by_number = {int(run.data.tags["optuna.trial_number"]): run for run in children}
    assert by_number[interrupted.number].info.status == "KILLED"

    finish(tune(config, postgres_url, tracking))  # the same command again
    study = optuna.load_study(study_name="resume", storage=storage)
    assert sum(t.state == TrialState.COMPLETE for t in study.get_trials()) == 4
    assert study.get_trials()[interrupted.number].state == TrialState.FAIL
    resumed_parent, _ = study_runs(tracking, "resume")
    assert resumed_parent.info.run_id == parent.info.run_id
    assert resumed_parent.info.status == "FINISHED"


def test_workers_on_sqlite_share_the_laptop_default(tmp_path):
    """`--workers 2` with SQLite for both Optuna and MLflow: no migration race, budget exact."""
    config = write_config(tmp_path, "laptop", "gp", 14, RANDOM_SPACE)
    storage, tracking = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db"
    output = finish(tune(config, storage, tracking, "--workers", "2", "--log-models", "best"))
    study = optuna.load_study(study_name="laptop", storage=storage)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 14
    assert len(param_sets(trials)) == 14
    _, children = study_runs(tracking, "laptop")
    assert len(children) == 14
    # the best model, whichever worker logged it: the launcher looks it up once both have ended
    (model,) = MlflowClient(tracking).search_logged_models([children[0].info.experiment_id])
    assert model.source_run_id == study.best_trial.user_attrs["mlflow_run_id"]
    assert f"best model:        models:/{model.model_id}" in output


def test_ctrl_c_stops_every_local_worker_and_marks_the_study_run_killed(tmp_path):
    config = write_config(tmp_path, "stopped", "random", 50, RANDOM_SPACE, {"epochs": 60, "batch_size": 8})
    storage, tracking = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db"
    launcher = tune(config, storage, tracking, "--workers", "2")
    rdb = optuna.storages.RDBStorage(storage)

    def both_workers_training():
        return len({t.user_attrs["worker"] for t in trials_in_training(rdb, "stopped")}) == 2

    wait_until(both_workers_training, what="both workers in mid-training")
    launcher.send_signal(signal.SIGINT)  # the launcher alone: it must stop the other worker itself
    output, _ = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, output

    trials = optuna.load_study(study_name="stopped", storage=rdb).get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len(trials) < 50
    parent, children = study_runs(tracking, "stopped")
    assert parent.info.status == "KILLED"
    assert "RUNNING" not in {run.info.status for run in children}, output
    killed = [run for run in children if run.info.status == "KILLED"]
    # The launcher's trial, and the other worker's unless it was past its last epoch when told to stop.
    assert 1 <= len(killed) <= 2
    assert {run.data.tags["optflow.fail_reason"] for run in killed} == {"interrupted (Ctrl-C or SIGTERM)"}


@pytest.mark.no_mlflow_db
def test_workers_refuse_a_storage_they_cannot_share(tmp_path):
    config = write_config(tmp_path, "memory", "random", 4, RANDOM_SPACE)
    process = tune(config, "sqlite:///:memory:", f"sqlite:///{tmp_path}/mlflow.db", "--workers", "2")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert output.strip().splitlines()[-1].startswith("optflow: error: study.storage must be a database file or server")
    assert not (tmp_path / "mlflow.db").exists()


def test_rerunning_after_a_crash_recovers_the_dead_trial_and_finishes_under_the_same_study_run(tmp_path):
    """The only worker is killed with SIGKILL; the same command again finishes the study (SQLite, the default)."""
    config = write_config(tmp_path, "crashed", "random", 4, RANDOM_SPACE, {"epochs": 60, "batch_size": 8})
    storage, tracking = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db"
    fast_heartbeat = {"OPTFLOW_HEARTBEAT_SECONDS": "1", "OPTFLOW_GRACE_SECONDS": "2"}
    first = tune(config, storage, tracking, env=fast_heartbeat)
    rdb = optuna.storages.RDBStorage(storage)
    killed = wait_until(lambda: trials_in_training(rdb, "crashed"), what="a trial in mid-training")[0]
    first.send_signal(signal.SIGKILL)
    first.wait()
    parent, _ = study_runs(tracking, "crashed")
    assert parent.info.status == "RUNNING"  # nobody could close it

    finish(tune(config, storage, tracking, env=fast_heartbeat))
    trials = optuna.load_study(study_name="crashed", storage=rdb).get_trials()
    assert trials[killed.number].state == TrialState.FAIL
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    resumed, children = study_runs(tracking, "crashed")
    assert resumed.info.run_id == parent.info.run_id and resumed.info.status == "FINISHED"
    dead = [run for run in children if run.data.tags["optuna.trial_number"] == str(killed.number)]
    assert [run.info.status for run in dead] == ["FAILED"]
    assert "RUNNING" not in {run.info.status for run in children}
