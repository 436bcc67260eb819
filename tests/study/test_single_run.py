"""`optflow train`'s run: the fixed config's params, its epochs and model in one MLflow run."""

from __future__ import annotations

from mlflow import MlflowClient
from oom_model import RunsOutOfMemory

import optflow
from optflow.config import build_config
from optflow.contract import TAG_KIND, TAG_TRIAL_STATE
from optflow.study.options import RunOptions
from optflow.study.single_run import run_training


def test_one_run_with_the_configs_params_epochs_and_model(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = build_config({"study": {"name": "one"}, "data": {"name": "iris"}, "training": {"epochs": 3, "lr": 0.1}})
    result = run_training(config, RunOptions(tracking_uri=uri))
    client = MlflowClient(uri)
    run = client.get_run(result.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "one-train"
    assert (run.info.run_name, run.info.status) == ("train", "FINISHED")
    assert run.data.params["lr"] == "0.1" and run.data.tags[TAG_KIND] == "train"
    assert run.data.tags[TAG_TRIAL_STATE] == "COMPLETE"
    assert [m.value for m in client.get_metric_history(result.run_id, "val_loss")] == [
        r.val_loss for r in result.records
    ]
    (model,) = client.search_logged_models([run.info.experiment_id])
    assert model.source_run_id == result.run_id


def test_a_long_training_runs_epochs_reach_mlflow_while_it_trains(tmp_path, monkeypatch):
    """With `OPTFLOW_STREAM_SECONDS=0` each epoch is sent as it ends: the run's history grows during training,
    and holds each epoch once when it is over."""
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setenv("OPTFLOW_STREAM_SECONDS", "0")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    seen = []

    def watch(record):
        (run,) = client.search_runs([client.get_experiment_by_name("long-train").experiment_id])
        seen.append(len(client.get_metric_history(run.info.run_id, "val_loss")))

    config = build_config({"study": {"name": "long"}, "data": {"name": "iris"}, "training": {"epochs": 4}})
    result = run_training(config, RunOptions(tracking_uri=uri), on_epoch=watch)
    assert seen == [1, 2, 3, 4]
    history = client.get_metric_history(result.run_id, "val_loss")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]


def test_system_metrics_reach_the_training_run_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    raw = {"study": {"name": "sys", "system_metrics": True}, "data": {"name": "iris"}, "training": {"epochs": 200}}
    result = run_training(build_config(raw), RunOptions(tracking_uri=uri))
    run = MlflowClient(uri).get_run(result.run_id)
    assert "system/cpu_utilization_percentage" in run.data.metrics and run.info.status == "FINISHED"


def test_optflow_train_retries_on_half_the_batch_when_cuda_runs_out_of_memory(tmp_path, monkeypatch):
    """`optflow train` runs through the same trial runner as a study's trials: it had no such retry before."""
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    built: list[RunsOutOfMemory] = []

    def build(params, spec):
        built.append(RunsOutOfMemory(spec.input_shape[0], spec.n_outputs))
        return built[-1]

    config = {"study": {"name": "oom", "log_models": "none"}, "data": {"name": "iris"}, "training": {"epochs": 2}}
    result = optflow.train(config, model=build, tracking_uri=uri)
    assert result.fail_reason == "" and len(result.records) == 2
    first, retried = [m for m in built if m.batches]  # the preflight's model trains no batch
    assert first.batches == [64] and set(retried.batches) <= {32, 24}
    run = MlflowClient(uri).get_run(result.run_id)
    assert (run.info.status, run.data.tags["optflow.batch_size_used"]) == ("FINISHED", "32")
