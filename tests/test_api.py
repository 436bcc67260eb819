"""The Python API (`optflow.tune`, `optflow.train`, `optflow.load_config`): the CLI's calls without argv."""

from __future__ import annotations

import math
import subprocess
import sys

import optuna
import pytest
from conftest import ROOT

import optflow
from optflow.errors import UsageError

SEARCH = {"lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}}


def small_study(tmp_path, **study) -> dict:
    return {
        "study": {
            "name": "api",
            "storage": f"sqlite:///{tmp_path}/optuna.db",
            "sampler": "random",
            "n_trials": 3,
            **study,
        },
        "data": {"name": "iris"},
        "training": {"epochs": 2},
        "search": SEARCH,
    }


class Recorder:
    """A reporter that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, config, total, done) -> None:
        self.calls.append(("start", total, done))

    def progress(self, done) -> None:
        self.calls.append(("progress", done))

    def trial_ended(self, outcome, worker) -> None:
        self.calls.append(("trial", outcome.number, outcome.state, outcome.study_best))

    def close(self) -> None:
        self.calls.append(("close",))


def test_tune_takes_a_mapping_and_returns_the_best_trial(tmp_path):
    recorder = Recorder()
    result = optflow.tune(small_study(tmp_path), tracking=False, reporter=recorder)
    assert isinstance(result, optflow.StudyResult)
    study = optuna.load_study(study_name="api", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert (result.n_trials, result.best_value, result.best_params) == (3, study.best_value, study.best_params)
    assert result.study_run_id is None  # nothing went to MLflow
    trials = [call for call in recorder.calls if call[0] == "trial"]
    assert [number for _, number, _, _ in trials] == [0, 1, 2]
    bests = [best for _, _, _, best in trials]
    assert bests == sorted(bests, reverse=True) and bests[-1] == result.best_value  # best so far, minimised
    assert recorder.calls[0] == ("start", 3, 0) and recorder.calls[-1] == ("close",)


def test_tune_takes_a_path_with_overrides_and_logs_to_mlflow(tmp_path):
    overrides = {
        "study.n_trials": 2,
        "study.storage": f"sqlite:///{tmp_path}/optuna.db",
        "study.sampler": "random",
        "study.log_models": "none",
        "training.epochs": 1,
        "data.name": "iris",
    }
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = optflow.tune(ROOT / "configs" / "digits.yaml", overrides=overrides, tracking_uri=uri)
    assert result.n_trials == 2 and result.study_run_id
    from mlflow import MlflowClient

    assert MlflowClient(uri).get_run(result.study_run_id).info.run_name == "digits"


def test_a_config_object_can_be_overridden(tmp_path):
    config = optflow.load_config(None, {"study.storage": f"sqlite:///{tmp_path}/optuna.db", "training.epochs": 1})
    result = optflow.tune(config, overrides={"study.n_trials": 1, "study.sampler": "random"}, tracking=False)
    assert result.n_trials == 1


def test_train_gives_the_records_and_value(tmp_path):
    seen = []
    result = optflow.train(small_study(tmp_path), tracking=False, on_epoch=seen.append)
    assert isinstance(result, optflow.TrainResult)
    assert [r.epoch for r in result.records] == [0, 1] and seen == result.records
    assert result.value == min(r.val_loss for r in result.records) and result.run_id is None


def test_train_reports_divergence_instead_of_raising(tmp_path):
    config = small_study(tmp_path)
    config["training"] = {"epochs": 3, "lr": 1e9, "batch_size": "full", "optimizer": "gd"}
    config["data"] = {"name": "diabetes"}
    result = optflow.train(config, tracking=False)
    assert result.fail_reason.startswith("diverged: ") and math.isnan(result.value)


def test_bad_input_raises_a_usage_error_naming_the_field(tmp_path):
    with pytest.raises(UsageError, match=r"^study.n_trials must be an int in \[1, inf\); got 0$"):
        optflow.tune(small_study(tmp_path, n_trials=0), tracking=False)
    assert not (tmp_path / "optuna.db").exists()


def test_a_script_without_a_main_guard_runs_its_study_once(tmp_path):
    """The docs' Python API snippet saved as a script: optflow's spawned children (the tracking process, the other
    workers) must not re-run it, which would start the study again in each child or crash at bootstrap."""
    storage, tracking = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db"
    script = tmp_path / "search.py"
    script.write_text(
        "import optflow\n"
        f"config = {small_study(tmp_path, n_trials=4)!r}\n"
        f"result = optflow.tune(config, tracking_uri={tracking!r}, workers=2)\n"
        "print('best', result.best_value)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("best ") == 1
    study = optuna.load_study(study_name="api", storage=storage)
    assert len(study.trials) == 4  # one study of 4 trials, not one per child
