"""optflow as a user runs it: `optflow tune` processes, their configs, and reading back what they left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

CHEAP_TRAINING = {"epochs": 2, "batch_size": 64}
SMALL_DATA = {"name": "classification", "n_samples": 200, "n_features": 6, "n_classes": 3}
RANDOM_SPACE = {
    "lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}


def write_config(tmp_path: Path, name: str, sampler: str, n_trials: int, search: dict, training=None) -> Path:
    config = {
        "study": {"name": name, "sampler": sampler, "n_trials": n_trials, "pruner": "none", "log_models": "none"},
        "data": SMALL_DATA,
        "training": training or CHEAP_TRAINING,
        "search": search,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def tune(
    config: Path, storage: str, tracking: str, *flags: str, env: dict | None = None, quiet: bool = True
) -> subprocess.Popen:
    """`optflow tune` as its own process; the password-bearing storage URL goes through the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "optflow", "tune", "--config", str(config), *(["--quiet"] if quiet else []), *flags],
        env={**os.environ, "OPTFLOW_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def wait_until(condition: Callable[[], object], timeout: float = 120, what: str = "condition") -> object:
    """Poll `condition` (a storage read) until it holds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def trials_in_training(storage, study_name: str) -> list:
    """RUNNING trials past their first epoch (none while the study does not exist yet)."""
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [trial for trial in running if trial.intermediate_values]


def study_runs(tracking: str, name: str) -> tuple[object, list]:
    """(the study run, its child runs) of the experiment named like the study; exactly one study run."""
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 1, [run.info.run_name for run in parents]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == len(runs) - 1
    return parents[0], children


def param_sets(trials) -> set[tuple]:
    return {tuple(sorted(trial.params.items())) for trial in trials}


def mlflow_run(project: Path, directory: Path, experiment: str, params: dict) -> subprocess.CompletedProcess:
    """`mlflow run <project> --env-manager local` as a user types it, in `directory`, tracking to its
    `mlflow.db`; the venv's python and mlflow first on PATH, no PYTHONPATH (the project's own code is found from
    the project directory, as a user's would be)."""
    import shutil

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{directory}/mlflow.db"}
    env.pop("MLFLOW_RUN_ID", None)
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = [shutil.which("mlflow", path=env["PATH"]), "run", str(project), "--env-manager", "local"]
    command += ["--experiment-name", experiment]
    for name, value in params.items():
        command += ["-P", f"{name}={value}"]
    return subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=600)


def start(
    tmp_path: Path, config: Path, *flags: str, env: dict | None = None, command: str = "tune"
) -> subprocess.Popen:
    """`optflow tune` (or `command`) in its own process group, as a terminal starts it (stores in `tmp_path`)."""
    env = {**os.environ, **(env or {}), "OPTFLOW_STORAGE": f"sqlite:///{tmp_path}/optuna.db"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path}/mlflow.db"
    env.pop("MLFLOW_RUN_ID", None)
    argv = [sys.executable, "-m", "optflow", command, "--config", str(config), "--quiet", *flags]
    return subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def ctrl_c(process: subprocess.Popen) -> tuple[str, str]:
    """SIGINT to the whole group; returns the output once every process of the group is gone."""
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=180)
    wait_until(lambda: not group_alive(process.pid), timeout=60, what="every process of the group to exit")
    return out, err
