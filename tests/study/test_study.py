"""A study in-process: trial states on both sides, links, budget and resume (inline tracking, SQLite)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from optflow.config import build_config
from optflow.study.options import RunOptions
from optflow.study.study import run_study


def inline(tracking_uri: str) -> RunOptions:
    """MLflow calls on this thread: the test reads the runs right after the study."""
    return RunOptions(tracking_uri=tracking_uri, inline_tracking=True)


def make_config(tmp_path, **study):
    return build_config(
        {
            "study": {"name": "s", "storage": f"sqlite:///{tmp_path}/optuna.db", "log_models": "none", **study},
            "data": {"name": "diabetes"},
            "model": {"kind": "linear"},
            "training": {"epochs": 8, "batch_size": "full", "optimizer": "gd"},
            "search": {"lr": {"type": "categorical", "choices": [0.05, 1.0e7]}},
        }
    )


def runs_of(tmp_path, study_run_id):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    parent = client.get_run(study_run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{study_run_id}'", order_by=["attributes.run_name"]
    )
    return client, parent, children


def test_diverged_trial_fails_cleanly_and_the_study_goes_on(tmp_path):
    config = make_config(tmp_path, sampler="grid", n_trials=2)
    result = run_study(config, inline(f"sqlite:///{tmp_path}/mlflow.db"))
    study = optuna.load_study(study_name="s", storage=config.study.storage)
    states = {t.params["lr"]: t.state for t in study.trials}
    assert states == {0.05: optuna.trial.TrialState.COMPLETE, 1.0e7: optuna.trial.TrialState.FAIL}
    assert result.n_complete == 1

    client, parent, children = runs_of(tmp_path, result.study_run_id)
    assert parent.info.status == "FINISHED"
    by_lr = {float(r.data.params["lr"]): r for r in children}
    failed = by_lr[1.0e7]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["optuna.trial_state"] == "FAIL"
    assert failed.data.tags["optflow.fail_reason"].startswith("diverged: ")
    assert "best_val_loss" not in failed.data.metrics
    done = by_lr[0.05]
    assert done.info.status == "FINISHED" and done.data.tags["optuna.trial_state"] == "COMPLETE"
    assert len(client.get_metric_history(done.info.run_id, "val_rmse")) == 8
    for trial in study.trials:
        assert trial.user_attrs["mlflow_run_id"] == by_lr[trial.params["lr"]].info.run_id


def test_pruned_trials_end_finished_and_tagged_without_a_result(tmp_path):
    config = build_config(
        {
            "study": {
                "name": "p",
                "storage": f"sqlite:///{tmp_path}/optuna.db",
                "log_models": "none",
                "sampler": "random",
                "n_trials": 12,
                "pruner": "median",
                "seed": 1,
            },
            "data": {"name": "iris"},
            "training": {"epochs": 10, "batch_size": 16},
            "search": {"lr": {"type": "float", "low": 1e-6, "high": 1.0, "log": True}},
        }
    )
    result = run_study(config, inline(f"sqlite:///{tmp_path}/mlflow.db"))
    study = optuna.load_study(study_name="p", storage=config.study.storage)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "the median pruner should stop some of the low-lr trials"
    _, _, children = runs_of(tmp_path, result.study_run_id)
    by_id = {r.info.run_id: r for r in children}
    for trial in pruned:
        run = by_id[trial.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED"  # stopped early by design, not failed (issue 12)
        assert run.data.tags["optuna.trial_state"] == "PRUNED"
        assert int(run.data.tags["optflow.pruned_at_epoch"]) == len(trial.intermediate_values) - 1
        assert "best_val_loss" not in run.data.metrics
        assert run.data.metrics["epochs_run"] < 10


def test_resume_continues_to_the_budget_under_the_same_study_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = make_config(tmp_path, sampler="random", n_trials=2)
    first = run_study(config, inline(uri))
    second = run_study(make_config(tmp_path, sampler="random", n_trials=4), inline(uri))
    assert second.study_run_id == first.study_run_id
    assert second.n_trials == 4
    _, parent, children = runs_of(tmp_path, first.study_run_id)
    assert len(children) == 4 and parent.info.status == "FINISHED"


def test_the_study_names_its_metric_for_the_dashboard(tmp_path):
    run_study(make_config(tmp_path, sampler="random", n_trials=1), RunOptions(tracking=False))
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert study.metric_names == ["val_loss"]  # optuna-dashboard labels its axes with it


def test_same_seed_same_trials(tmp_path):
    values = []
    for name in ("a", "b"):
        config = build_config(
            {
                "study": {"name": name, "storage": f"sqlite:///{tmp_path}/o.db", "sampler": "tpe", "n_trials": 4},
                "data": {"name": "iris"},
                "training": {"epochs": 3},
                "search": {"lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True}},
            }
        )
        run_study(config, RunOptions(tracking=False))
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/o.db")
        values.append([(t.params, t.value) for t in study.trials])
    assert values[0] == values[1]


def test_stored_study_with_other_direction_is_refused(tmp_path):
    from optflow.errors import UsageError

    run_study(make_config(tmp_path, n_trials=1, sampler="random"), RunOptions(tracking=False))
    with pytest.raises(UsageError, match="study 's' was made for another task: study.direction was 'minimize'"):
        run_study(make_config(tmp_path, n_trials=1, sampler="random", direction="maximize"), RunOptions(tracking=False))


def test_study_run_gets_plots_that_are_real_images(tmp_path):
    import numpy as np
    from PIL import Image

    config = make_config(tmp_path, sampler="random", n_trials=4)
    config = build_config({**config.to_dict(), "search": {"lr": {"type": "float", "low": 1e-3, "high": 0.1}}})
    result = run_study(config, inline(f"sqlite:///{tmp_path}/mlflow.db"))
    client, parent, _ = runs_of(tmp_path, result.study_run_id)
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    expected = (
        "optimization_history",
        "intermediate_values",
        "param_importances",
        "parallel_coordinate",
        "best_loss_curves",
    )
    for name in expected:
        path = client.download_artifacts(parent.info.run_id, f"plots/{name}.png", str(tmp_path))
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            width, height = image.size
            assert 300 <= width <= 2000 and 200 <= height <= 1500, (name, image.size)
            assert len(np.unique(np.asarray(image.convert("L")))) > 10, name  # not a blank canvas
    report = client.download_artifacts(parent.info.run_id, "plots/report.html", str(tmp_path))
    page = Path(report).read_text()
    assert "plots/report.html" in names and page.count('class="plotly-graph-div"') == 4
    assert '<script src="http' not in page and len(page) > 3_000_000  # plotly.js inside: it draws offline


def test_best_model_reloads_with_pyfunc_and_predicts_like_a_retrained_module(tmp_path):
    """The logged model is the best trial's: retraining its params (same seed) gives the same predictions."""
    import mlflow
    from conftest import assert_predicts_like_retrained

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = build_config(
        {
            "study": {
                "name": "m",
                "storage": f"sqlite:///{tmp_path}/optuna.db",
                "sampler": "random",
                "n_trials": 3,
                "log_models": "best",
                "register_model": "digits-best",
            },
            "data": {"name": "iris"},
            "training": {"epochs": 5},
            "search": {"lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}},
        }
    )
    run_study(config, inline(uri))
    study = optuna.load_study(study_name="m", storage=config.study.storage)
    best_run_id = study.best_trial.user_attrs["mlflow_run_id"]

    client = MlflowClient(uri)
    version = client.get_registered_model("digits-best").latest_versions[0]
    assert version.run_id == best_run_id
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(f"models:/digits-best/{version.version}")

    assert_predicts_like_retrained(loaded, config, study.best_trial.params)


def test_register_model_needs_best_models():
    from optflow.errors import UsageError

    with pytest.raises(UsageError, match="study.log_models must be best when study.register_model is set; got 'none'"):
        build_config({"study": {"register_model": "x", "log_models": "none"}})
