"""A study logging over HTTP to a real `mlflow server` on 127.0.0.1, checked through MLflow's REST API."""

from __future__ import annotations

import json
import sys
import urllib.parse
import urllib.request

import optuna
import pytest
from conftest import assert_predicts_like_retrained, free_port, start_server, stop_server

from optflow.config import build_config
from optflow.study.options import RunOptions
from optflow.study.study import run_study

pytestmark = pytest.mark.slow
EPOCHS = 4
N_TRIALS = 3


@pytest.fixture(scope="module")
def study_on_server(tmp_path_factory, migrated_mlflow_db):
    tmp = tmp_path_factory.mktemp("mlflow-server")
    migrated_mlflow_db(tmp, "backend.db")  # the server would spend seconds migrating a new one
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp}/backend.db",
        "--artifacts-destination",
        str(tmp / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    server = start_server(command, "Uvicorn running on")
    uri = f"http://127.0.0.1:{port}"
    try:
        config = build_config(
            {
                "study": {
                    "name": "served",
                    "storage": f"sqlite:///{tmp}/optuna.db",
                    "sampler": "random",
                    "n_trials": N_TRIALS,
                    "log_models": "best",
                },
                "data": {"name": "iris"},
                "training": {"epochs": EPOCHS},
                "search": {"lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}},
            }
        )
        result = run_study(config, RunOptions(tracking_uri=uri))  # the tracking process logs over HTTP
        yield uri, config, result
    finally:
        stop_server(server)


def rest(uri: str, path: str, payload: dict | None = None, **query: str) -> dict:
    url = f"{uri}/api/2.0/mlflow/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def tags_of(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def test_rest_api_returns_parent_children_histories_and_artifacts(study_on_server):
    uri, _, result = study_on_server
    experiment = rest(uri, "experiments/get-by-name", experiment_name="served")["experiment"]
    runs = rest(uri, "runs/search", {"experiment_ids": [experiment["experiment_id"]], "max_results": 100})["runs"]
    parent = next(r for r in runs if r["info"]["run_id"] == result.study_run_id)
    assert parent["info"]["status"] == "FINISHED" and "mlflow.parentRunId" not in tags_of(parent)
    children = [r for r in runs if tags_of(r).get("mlflow.parentRunId") == result.study_run_id]
    assert len(children) == N_TRIALS
    for child in children:
        run_id = child["info"]["run_id"]
        history = rest(uri, "metrics/get-history", run_id=run_id, metric_key="val_loss")["metrics"]
        assert sorted(m["step"] for m in history) == list(range(EPOCHS))
        files = {f["path"] for f in rest(uri, "artifacts/list", run_id=run_id)["files"]}
        assert {"config.yaml", "loss_curve.png"} <= files
    parent_files = {f["path"] for f in rest(uri, "artifacts/list", run_id=result.study_run_id)["files"]}
    assert {"plots", "study"} <= parent_files


def test_best_model_reloads_over_http_and_predicts_like_the_trained_module(study_on_server):
    import mlflow
    from mlflow import MlflowClient

    uri, config, result = study_on_server
    study = optuna.load_study(study_name="served", storage=config.study.storage)
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("served").experiment_id
    (model,) = client.search_logged_models([experiment_id])
    assert model.source_run_id == study.best_trial.user_attrs["mlflow_run_id"]
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(model.model_uri)

    assert_predicts_like_retrained(loaded, config, study.best_trial.params, rows=9)
