"""The real command: `mlflow run . --env-manager local` (two workers) leaves one study run, N trial runs and N
trials."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from conftest import dashboard_api
from mlflow import MlflowClient
from processes import mlflow_run as mlflow_run_command

ROOT = Path(__file__).resolve().parents[1]
N_TRIALS = 4
EPOCHS = 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory, migrated_mlflow_db):
    tmp = tmp_path_factory.mktemp("e2e")
    migrated_mlflow_db(tmp)
    params = {
        "n_trials": N_TRIALS,
        "epochs": EPOCHS,
        "sampler": "random",
        "storage": f"sqlite:///{tmp}/optuna.db",
        "study_name": "e2e-study",
        "log_models": "best",
        "workers": 2,  # the second worker joins the run `mlflow run` made, through the study's user attrs
    }
    result = mlflow_run_command(ROOT, tmp, "e2e", params)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp, result


def test_one_study_run_and_n_trial_runs(mlflow_run):
    tmp, _ = mlflow_run
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    experiment = client.get_experiment_by_name("e2e")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # made by `mlflow run`, tagged
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == N_TRIALS
    parent = parents[0]
    assert parent.info.run_name == "e2e-study" and parent.info.status == "FINISHED"
    assert parent.data.tags["optflow.sampler"] == "random"
    assert parent.data.tags["optflow.storage"] == f"sqlite:///{tmp}/optuna.db"
    assert parent.data.params["training.epochs"] == str(EPOCHS)
    assert "" not in parent.data.params.values()  # no empty MLproject parameters
    given = {"n_trials", "epochs", "sampler", "storage", "study_name", "log_models", "workers", "config"}
    assert given <= set(parent.data.params) and not {"pruner", "metric", "overrides"} & set(parent.data.params)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.info.run_name for c in children) == [f"trial-{i:04d}" for i in range(N_TRIALS)]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "study")}
    assert {"study/trials.csv", "study/search_space.json", "study/best_config.yaml"} <= artifacts
    assert len(client.get_metric_history(parent.info.run_id, "best_value")) == N_TRIALS
    (dataset_input,) = client.get_run(parent.info.run_id).inputs.dataset_inputs
    assert dataset_input.dataset.name == "digits" and "load_digits" in dataset_input.dataset.source


def test_the_command_mlflow_runs_holds_only_the_flags_given(mlflow_run):
    _, result = mlflow_run
    (line,) = [line for line in result.stderr.splitlines() if "Running command" in line]
    assert "''" not in line and "--n_trials 4" in line and "--pruner" not in line


def test_trial_runs_follow_the_contract(mlflow_run):
    tmp, _ = mlflow_run
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    experiment = client.get_experiment_by_name("e2e")
    children = client.search_runs([experiment.experiment_id], "tags.optuna.trial_number != ''")
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.study_name"] == "e2e-study"
        assert run.data.tags["optuna.trial_state"] == "COMPLETE"
        params = run.data.params  # only those that acted in the trial
        assert {"lr", "optimizer", "schedule", "l2", "dropout", "epochs"} <= set(params)
        assert ("batch_size" in params) == (params["optimizer"] != "gd")
        assert ("momentum" in params) == (params["optimizer"] == "momentum")
        assert ("gamma" in params) == (params["schedule"] in ("exponential", "step"))
        epochs_run = int(run.data.metrics["epochs_run"])
        assert 1 <= epochs_run <= EPOCHS
        for metric in ("train_loss", "val_loss", "val_accuracy", "lr"):
            history = client.get_metric_history(run.info.run_id, metric)
            assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(epochs_run))
        assert {"best_val_loss", "train_seconds"} <= set(run.data.metrics)
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"config.yaml", "loss_curve.png"}
        inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
        assert [(i.dataset.name, i.tags[0].value) for i in inputs] == [("digits", "training")]


def test_optuna_study_links_to_the_runs(mlflow_run):
    tmp, _ = mlflow_run
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    study = optuna.load_study(study_name="e2e-study", storage=f"sqlite:///{tmp}/optuna.db")
    assert len(study.trials) == N_TRIALS
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    for trial in study.trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert trial.user_attrs["mlflow_experiment_id"] == run.info.experiment_id
        assert float(run.data.params["lr"]) == pytest.approx(trial.params["lr"])
        assert len(trial.intermediate_values) == int(run.data.metrics["epochs_run"])


def test_best_model_is_logged(mlflow_run):
    tmp, _ = mlflow_run
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    study = optuna.load_study(study_name="e2e-study", storage=f"sqlite:///{tmp}/optuna.db")
    experiment = client.get_experiment_by_name("e2e")
    models = client.search_logged_models([experiment.experiment_id])
    assert [m.source_run_id for m in models] == [study.best_trial.user_attrs["mlflow_run_id"]]


def test_optuna_dashboard_reads_the_study(mlflow_run):
    """optuna-dashboard's own API, in-process, over the study's storage: trials, curves and MLflow links."""
    tmp, _ = mlflow_run
    get = dashboard_api(f"sqlite:///{tmp}/optuna.db")

    summaries = get("/api/studies")["study_summaries"]
    study = next(s for s in summaries if s["study_name"] == "e2e-study")
    detail = get(f"/api/studies/{study['study_id']}")
    assert len(detail["trials"]) == N_TRIALS
    assert "MLflow study run" in detail["note"]["body"]
    for trial in detail["trials"]:
        assert trial["intermediate_values"]
        run_id = next(a["value"] for a in trial["user_attrs"] if a["key"] == "mlflow_run_id")
        assert {a["key"] for a in trial["user_attrs"]} >= {"mlflow_run_id", "mlflow_experiment_id"}
        assert trial["note"]["body"].startswith("**COMPLETE**: val_loss = ")
        assert f"MLflow run: `{run_id}`" in trial["note"]["body"]
