"""Interrupts and crashes leave nothing RUNNING. A terminal's Ctrl-C sends SIGINT to the whole process group (the
workers and every tracking process too), so these tests signal the group with `os.killpg`, as a terminal does,
at several moments, with 1 and 2 workers; then the same command again finishes the study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from processes import RANDOM_SPACE, ctrl_c, start, trials_in_training, wait_until, write_config

from optflow.errors import EXIT_INTERRUPTED, EXIT_NO_RESULT

pytestmark = pytest.mark.slow
SLOW_TRAINING = {"epochs": 60, "batch_size": 8}  # a few seconds a trial: long enough to be caught mid-trial


def study_of(tmp_path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")


def runs_of(tmp_path: Path, name: str) -> list:
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name(name)
    return client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []


def assert_nothing_running(tmp_path: Path, name: str) -> None:
    trials = study_of(tmp_path, name).trials
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not [run.info.run_name for run in runs_of(tmp_path, name) if run.info.status == "RUNNING"]


def rerun_finishes(tmp_path: Path, config: Path, name: str, budget: int) -> None:
    again = start(tmp_path, config)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert_nothing_running(tmp_path, name)
    trials = study_of(tmp_path, name).trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == budget
    (parent,) = [run for run in runs_of(tmp_path, name) if "mlflow.parentRunId" not in run.data.tags]
    assert parent.info.status == "FINISHED"
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert {"study/trials.csv", "study/best_config.yaml"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id, "study")
    }  # the summary, also when an interrupt hit while it was being written


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_mid_trial_ends_every_run_and_the_rerun_finishes(tmp_path, workers):
    budget = 4 if workers == "1" else 8  # two workers: enough trials that both are caught mid-training
    config = write_config(tmp_path, "mid", "random", budget, RANDOM_SPACE, SLOW_TRAINING)
    process = start(tmp_path, config, "--workers", workers)
    rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")

    def enough_in_training() -> bool:
        # Each trial with a quarter of its epochs still to go: under load, one near its end could finish between
        # this check and the Ctrl-C, and the signal would then find the worker between trials. (Half-way was too
        # strict: two workers that run in opposite phase are never both in their first halves at once.)
        short_of_the_end = SLOW_TRAINING["epochs"] * 3 // 4
        running = trials_in_training(rdb, "mid")
        busy = {t.user_attrs.get("worker") for t in running if len(t.intermediate_values) <= short_of_the_end}
        if len(busy) < int(workers):
            return False  # one worker: also a trial done, whose run must survive the Ctrl-C whole
        return workers == "2" or any(t.state == TrialState.COMPLETE for t in study_of(tmp_path, "mid").trials)

    wait_until(enough_in_training, timeout=240, what="every worker in mid-training")
    out, err = ctrl_c(process)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("optflow: interrupted; trial ")
    assert_nothing_running(tmp_path, "mid")
    runs = runs_of(tmp_path, "mid")
    killed = [run for run in runs if run.info.status == "KILLED" and "mlflow.parentRunId" in run.data.tags]
    assert 1 <= len(killed) <= int(workers)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    for run in runs:  # completed trials' runs were written whole: the tracking processes outlived the Ctrl-C
        if run.data.tags.get("optuna.trial_state") == "COMPLETE":
            assert {"config.yaml", "loss_curve.png"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    trials = study_of(tmp_path, "mid").trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) < budget  # no worker ran the rest of the budget
    assert len([t for t in trials if t.state == TrialState.FAIL]) == len(killed)  # run again on the rerun
    rerun_finishes(tmp_path, config, "mid", budget)


@pytest.mark.parametrize("moment", ["between trials", "during the summary"])
def test_ctrl_c_at_other_moments_leaves_nothing_running(tmp_path, moment):
    config = write_config(tmp_path, "moment", "random", 4, RANDOM_SPACE, {"epochs": 10, "batch_size": 16})
    process = start(tmp_path, config)

    def completed() -> int:
        try:
            return sum(t.state == TrialState.COMPLETE for t in study_of(tmp_path, "moment").trials)
        except KeyError:
            return 0

    wait_until(lambda: completed() >= (1 if moment == "between trials" else 4), timeout=240, what=moment)
    out, err = ctrl_c(process)
    assert process.returncode in (0, EXIT_INTERRUPTED), err  # the summary may have been quicker than the signal
    assert "Traceback" not in err
    assert_nothing_running(tmp_path, "moment")
    rerun_finishes(tmp_path, config, "moment", 4)


def test_a_killed_workers_tracking_process_exits_with_it(tmp_path):
    config = write_config(tmp_path, "orphan", "random", 4, RANDOM_SPACE, SLOW_TRAINING)
    process = start(tmp_path, config)
    rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")
    wait_until(lambda: trials_in_training(rdb, "orphan"), timeout=240, what="a trial in mid-training")
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    assert children, "the worker runs its tracking in a child process"
    process.send_signal(signal.SIGKILL)  # the OOM killer, say: no clean-up runs in the worker
    process.wait()
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), timeout=30, what="orphans gone")


def test_a_study_whose_every_trial_diverged_says_so_and_exits_4(tmp_path):
    search = {"lr": {"type": "float", "low": 1e8, "high": 1e9, "log": True}}
    training = {"epochs": 5, "batch_size": "full", "optimizer": "gd"}
    config = write_config(tmp_path, "diverged", "random", 3, search, training)
    env = {**os.environ, "OPTFLOW_STORAGE": f"sqlite:///{tmp_path}/optuna.db"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path}/mlflow.db"
    command = [sys.executable, "-m", "optflow", "tune", "--config", str(config), "--set", "data.name=diabetes"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == EXIT_NO_RESULT, result.stderr
    assert "Traceback" not in result.stderr and "TrainingDiverged" not in result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("trial ") and " FAIL " in line]
    assert len(lines) == 3 and all("(diverged: " in line for line in lines)
    assert "optflow: no trial of study 'diverged' completed (3 failed, 0 pruned)" in result.stderr


def test_optflow_train_resumes_after_ctrl_c_and_ends_with_an_uninterrupted_runs_numbers(tmp_path):
    """`optflow train` runs through the trial runner, checkpoints included: Ctrl-C leaves the run KILLED and a
    checkpoint of the last step, and the same command continues from it to the numbers of a run never stopped."""
    import yaml

    config = {
        "study": {"name": "replay", "log_models": "none"},
        "data": {"name": "classification", "n_samples": 4000, "n_features": 20, "n_classes": 3},
        "training": {"epochs": 12, "batch_size": 8, "optimizer": "adam", "lr": 0.003, "checkpoint_every": 1},
    }
    path = tmp_path / "replay.yaml"
    path.write_text(yaml.safe_dump(config))
    folder = tmp_path / "optuna_artifacts" / "checkpoints" / "replay-train"

    def checkpoint():  # the one file of this config (`train-<digest>.pt`), once written
        return next(folder.glob("train-*.pt"), None) if folder.is_dir() else None

    process = start(tmp_path, path, command="train")
    wait_until(checkpoint, timeout=240, what="the first epoch's checkpoint")
    out, err = ctrl_c(process)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and checkpoint() is not None

    resumed = start(tmp_path, path, command="train")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert checkpoint() is None  # ended for good: nothing left to resume
    (reference_dir := tmp_path / "reference").mkdir()
    reference = start(reference_dir, path, command="train")
    expected, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    assert out.split(";")[0] == expected.split(";")[0]  # "best val_loss = ... after 12 epochs", digit for digit

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("replay-train").experiment_id])
    assert sorted(run.info.status for run in runs) == ["FINISHED", "KILLED"]
    (finished,) = [run for run in runs if run.info.status == "FINISHED"]
    assert int(finished.data.tags["optflow.resumed_from_epoch"]) >= 1
