"""The tracker: what a study logs (docs/reference/contracts.md), the model policy, and failures it keeps to itself."""

from __future__ import annotations

import tempfile
from dataclasses import fields, replace

import optuna
import pytest
from conftest import study_detail
from mlflow import MlflowClient

from optflow import contract
from optflow.config import SECTIONS, build_config
from optflow.data import load_dataset
from optflow.records import TrialOutcome
from optflow.study.options import RunOptions
from optflow.study.study import run_study
from optflow.tracking import mlflow_runs
from optflow.tracking.tracker import StudyTracker


def make_config(tmp_path, **study):
    return build_config(
        {
            "study": {"name": "t", "storage": f"sqlite:///{tmp_path}/optuna.db", "sampler": "random", **study},
            "data": {"name": "iris"},
            "training": {"epochs": 3},
            "search": {
                "lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
                "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
            },
        }
    )


def inline(tmp_path) -> RunOptions:
    return RunOptions(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", inline_tracking=True)


def children(client: MlflowClient, study_run_id: str) -> list:
    parent = client.get_run(study_run_id)
    return client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{study_run_id}'")


def test_a_study_logs_the_contracts_names(tmp_path):
    config = make_config(tmp_path, n_trials=2, log_models="none")
    result = run_study(config, inline(tmp_path))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    parent = client.get_run(result.study_run_id)
    assert parent.info.run_name == "t"
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags[mlflow_runs.EXPERIMENT_KIND_TAG] == "custom_model_development"  # UI opens on the runs
    assert {contract.TAG_OPTFLOW_STUDY, contract.TAG_SAMPLER, contract.TAG_STORAGE} <= set(parent.data.tags)
    every_field = {f"{name}.{f.name}" for name, section in SECTIONS.items() for f in fields(section)}
    unset = {"data.path", "data.target", "data.n_samples", "data.n_features", "data.n_classes", "data.noise"}
    unset |= {"study.experiment", "study.register_model", "study.artifact_dir", "training.momentum"}
    unset |= {"training.gamma", "training.step_size", "training.decay_rate", "training.min_lr", "training.min_delta"}
    unset |= {"model.factory", "model.params", "data.factory", "data.params"}  # built-in model and data
    unset |= {"objective.function", "objective.params", "training.num_workers", "training.pin_memory"}
    unset |= {"data.image_size", "data.seq_len", "data.max_chars"}  # not images, not text
    unset |= {"training.loss", "study.metrics"}  # the task's own loss and metrics
    unset |= {"study.objectives", "study.constraints", "study.pareto_models"}  # one objective, unconstrained
    unset |= {"training.schedule_interval", "training.weight_decay", "training.base_batch_size"}  # constant, sgd
    unset |= {f"model.{name}" for name in ("channels", "conv_layers", "kernel_size", "batch_norm", "pooling")}
    unset |= {f"model.{name}" for name in ("d_model", "n_heads", "n_layers", "d_ff")}  # an MLP
    assert set(parent.data.params) == every_field - unset  # the fixed config: what acts (iris, sgd, constant)
    assert set(parent.data.metrics) == {contract.STUDY_BEST_VALUE}
    runs = sorted(children(client, result.study_run_id), key=lambda run: run.info.run_name)
    assert [run.info.run_name for run in runs] == [contract.trial_run_name(0), contract.trial_run_name(1)]
    study = optuna.load_study(study_name="t", storage=config.study.storage)
    for trial, run in zip(study.trials, runs, strict=True):
        assert {
            contract.TAG_STUDY_NAME,
            contract.TAG_TRIAL_NUMBER,
            contract.TAG_TRIAL_STATE,
            contract.TAG_WORKER,
            contract.TAG_SEARCHED,
        } <= set(run.data.tags)
        assert run.data.tags[contract.TAG_SEARCHED] == "lr,optimizer"
        assert run.data.tags[contract.TAG_DEVICE] == "cpu"
        expected = {"train_loss", "val_loss", "val_accuracy", "lr", contract.N_PARAMS, *contract.FINAL_METRICS}
        assert set(run.data.metrics) == expected - {contract.PEAK_DEVICE_MEMORY}  # CUDA only
        metrics = run.data.metrics  # iris: 120 training rows per epoch
        assert metrics["samples_per_second"] == pytest.approx(120 * metrics["epochs_run"] / metrics["train_seconds"])
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml", "loss_curve.png"}
        assert trial.user_attrs[contract.ATTR_RUN_ID] == run.info.run_id
        assert trial.user_attrs[contract.ATTR_WORKER] == run.data.tags[contract.TAG_WORKER]
    assert study.user_attrs[contract.ATTR_PARENT_RUN_ID] == parent.info.run_id


@pytest.mark.parametrize("policy,logged", [("none", 0), ("best", 1), ("all", 3)])
def test_log_models_decides_which_runs_get_a_model(tmp_path, monkeypatch, policy, logged):
    config = make_config(tmp_path, n_trials=3, log_models=policy, seed=2)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the kept models wait
    result = run_study(config, inline(tmp_path))
    assert not list(tmp_path.glob("optflow-models-*"))  # removed once logged
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_run(result.study_run_id).info.experiment_id
    models = client.search_logged_models([experiment])
    assert len(models) == logged
    if policy == "best":
        study = optuna.load_study(study_name="t", storage=config.study.storage)
        assert models[0].source_run_id == study.best_trial.user_attrs[contract.ATTR_RUN_ID]


@pytest.mark.no_mlflow_db
def test_without_tracking_optuna_still_gets_notes_and_nothing_goes_to_mlflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    config = make_config(tmp_path, n_trials=2)
    result = run_study(config, RunOptions(tracking=False))
    assert result.study_run_id is None and not (tmp_path / "mlflow.db").exists()
    trials = study_detail(config.study.storage, "t")["trials"]
    assert len(trials) == 2
    for trial in trials:
        assert trial["note"]["body"].startswith("**COMPLETE**: val_loss = ")
        assert "MLflow run" not in trial["note"]["body"]
        attrs = {a["key"] for a in trial["user_attrs"]}
        assert contract.ATTR_WORKER in attrs and contract.ATTR_RUN_ID not in attrs


def test_a_run_that_cannot_be_made_is_counted_and_the_trial_goes_on(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    tracker = StudyTracker(config, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", inline=True)
    study = optuna.create_study()
    tracker.open(None, 0, load_dataset(config.data))

    def refuse(*args, **kwargs):
        raise ConnectionError("tracking server gone")

    monkeypatch.setattr(mlflow_runs, "start_run", refuse)
    trial = study.ask()
    run = tracker.trial_run(trial, {}, config)
    run.ended(TrialOutcome(trial.number, "COMPLETE", 0.5, ()), model=None)  # no exception reaches the trial
    assert tracker._background.failures == 1
    assert contract.ATTR_RUN_ID not in trial.user_attrs
    tracker.close("FINISHED")
    assert MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(tracker.study_run_id).info.status == "FINISHED"


def test_runs_keep_their_trials_times_and_the_study_run_ends_with_its_last_trial(tmp_path):
    """Made by the tracking process whenever it gets to them, and the best one reopened to log its model: the
    runs still show their trials' own start and end (the MLflow UI's durations)."""
    from optflow.tracking.recovery import ms

    config = make_config(tmp_path, n_trials=4, log_models="best", seed=3)
    result = run_study(config, RunOptions(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db"))  # the tracking process
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    study = optuna.load_study(study_name="t", storage=config.study.storage)
    by_id = {run.info.run_id: run for run in children(client, result.study_run_id)}
    for trial in study.trials:  # a run spans its trial's training, whenever the tracking process made it
        run = by_id[trial.user_attrs[contract.ATTR_RUN_ID]]
        assert abs(run.info.start_time - ms(trial.datetime_start)) < 1000, trial.number
        training_ms = run.data.metrics["train_seconds"] * 1000
        assert run.info.start_time + training_ms <= run.info.end_time <= ms(trial.datetime_complete), trial.number
    best_run = client.get_run(study.best_trial.user_attrs[contract.ATTR_RUN_ID])
    assert client.search_logged_models([best_run.info.experiment_id])[0].source_run_id == best_run.info.run_id
    parent = client.get_run(result.study_run_id)
    assert abs(parent.info.end_time - max(ms(t.datetime_complete) for t in study.trials)) < 1000


def test_the_study_run_points_at_its_best_trial(tmp_path):
    config = make_config(tmp_path, n_trials=3, log_models="none")
    result = run_study(config, inline(tmp_path))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    parent = client.get_run(result.study_run_id)
    best = optuna.load_study(study_name="t", storage=config.study.storage).best_trial
    best_run = best.user_attrs[contract.ATTR_RUN_ID]
    assert parent.data.tags[contract.TAG_BEST_RUN] == best_run
    link = f"[{contract.trial_run_name(best.number)}]({contract.run_page(parent.info.experiment_id, best_run)})"
    assert f"Best trial: {link}, val_loss = " in parent.data.tags["mlflow.note.content"]


def test_a_run_lists_only_the_params_its_trial_used():
    from optflow.tracking.params import run_params

    adam = build_config({"training": {"optimizer": "adam", "schedule": "constant"}})
    assert not {"momentum", "gamma", "step_size", "decay_rate", "min_lr"} & set(run_params(adam))
    stepped = build_config({"training": {"optimizer": "momentum", "schedule": "step"}, "model": {"kind": "linear"}})
    params = run_params(stepped)
    assert {"momentum", "gamma", "step_size"} <= set(params) and not {"hidden", "dropout", "activation"} & set(params)
    assert "batch_size" not in run_params(build_config({"training": {"optimizer": "gd"}}))


def test_system_metrics_reach_the_trial_runs_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")  # trials of a few tenths of a second
    config = make_config(tmp_path, n_trials=1, log_models="none", system_metrics=True)
    config = config.with_params({"epochs": 200})
    result = run_study(config, inline(tmp_path))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = children(client, result.study_run_id)
    assert "system/cpu_utilization_percentage" in run.data.metrics
    assert "system/system_memory_usage_megabytes" in run.data.metrics
    assert run.info.status == "FINISHED"
    plain = make_config(tmp_path / "plain", n_trials=1, log_models="none")
    (tmp_path / "plain").mkdir()
    result = run_study(plain, inline(tmp_path / "plain"))
    (run,) = children(MlflowClient(f"sqlite:///{tmp_path}/plain/mlflow.db"), result.study_run_id)
    assert not any(name.startswith("system/") for name in run.data.metrics)


def test_a_finished_study_run_again_shows_and_registers_its_best_model_once(tmp_path):
    """The session that logged the best model is over; a later one that runs nothing still names that model,
    and `register_model` registers it (once, however often the command runs)."""
    config = make_config(tmp_path, n_trials=2, log_models="best", seed=2)
    first = run_study(config, inline(tmp_path))
    assert first.model_uri is not None
    again = replace(config, study=replace(config.study, register_model="iris-best"))
    for _ in range(2):
        result = run_study(again, inline(tmp_path))
        assert result.already_spent and result.model_uri == first.model_uri
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (version,) = client.search_model_versions("name = 'iris-best'")
    study = optuna.load_study(study_name="t", storage=config.study.storage)
    assert version.run_id == study.best_trial.user_attrs[contract.ATTR_RUN_ID]


def test_a_resumed_study_registers_its_best_model_whichever_session_logged_it(tmp_path):
    """`register_model` given to the session that resumes a study: if the best trial stays one of an earlier
    session's, its model (logged then) is registered now; else this session's best is, as usual."""
    config = make_config(tmp_path, n_trials=2, log_models="best", seed=2)
    run_study(config, inline(tmp_path))
    resumed = replace(config, study=replace(config.study, n_trials=3, register_model="iris-best"))
    result = run_study(resumed, inline(tmp_path))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (version,) = client.search_model_versions("name = 'iris-best'")
    study = optuna.load_study(study_name="t", storage=config.study.storage)
    assert version.run_id == study.best_trial.user_attrs[contract.ATTR_RUN_ID]
    assert result.model_uri is not None and version.source.endswith(result.model_uri.removeprefix("models:/"))
