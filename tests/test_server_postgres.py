"""The scaled-out setup: `mlflow server` on PostgreSQL with a local artifact root, workers logging over HTTP,
the study on PostgreSQL; and no password anywhere a run, a trial or the output can show it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import free_port, start_server, stop_server
from mlflow import MlflowClient
from optuna.trial import TrialState
from processes import RANDOM_SPACE, finish, study_runs, tune, write_config

from optflow.search.optuna_private import study_system_attrs

pytestmark = pytest.mark.slow
TRACKING_PASSWORD = "track-pw-5e3c1a"  # the server ignores it; it must still never be logged


@pytest.fixture(scope="module")
def mlflow_on_postgres(postgres_server, tmp_path_factory):
    """A real `mlflow server` process: PostgreSQL backend store, artifacts served from a local directory."""
    root = tmp_path_factory.mktemp("mlflow-pg")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", postgres_server.database("mlflow_backend"),
               "--artifacts-destination", str(root / "artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    server = start_server(command, "Uvicorn running on")
    try:
        yield f"http://127.0.0.1:{port}", root / "artifacts"
    finally:
        stop_server(server)


def test_two_workers_log_over_http_to_a_server_on_postgresql(tmp_path, postgres_url, mlflow_on_postgres):
    uri, artifact_root = mlflow_on_postgres
    config = write_config(tmp_path, "served_pg", "random", 8, RANDOM_SPACE)
    finish(tune(config, postgres_url, uri, "--workers", "2"))

    parent, children = study_runs(uri, "served_pg")
    assert len(children) == 8
    assert {child.info.status for child in children} == {"FINISHED"}
    assert parent.info.status == "FINISHED"
    client = MlflowClient(uri)
    child = children[0]
    assert {a.path for a in client.list_artifacts(child.info.run_id)} >= {"config.yaml", "loss_curve.png"}
    assert len(client.get_metric_history(child.info.run_id, "val_loss")) == 2  # one point per epoch
    assert any(a.path == "plots" for a in client.list_artifacts(parent.info.run_id))
    # The artifacts went through the server into its local artifact root.
    assert list(artifact_root.rglob("loss_curve.png"))
    trials = optuna.load_study(study_name="served_pg", storage=postgres_url).get_trials()
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == {c.info.run_id for c in children}


def everything_logged(uri: str, experiment_name: str, storage: str, tmp_path: Path) -> str:
    """Every MLflow param, tag, metric name and artifact byte of the experiment, and every Optuna attr."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    parts: list[str] = [json.dumps(experiment.tags)]
    for run in client.search_runs([experiment.experiment_id], max_results=1000):
        parts += [json.dumps(run.data.params), json.dumps(run.data.tags), json.dumps(sorted(run.data.metrics))]
        for inp in run.inputs.dataset_inputs:
            parts.append(inp.dataset.source + inp.dataset.name + (inp.dataset.profile or ""))
        local = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, dst_path=str(tmp_path / run.info.run_id), tracking_uri=uri
        )
        parts += [p.read_bytes().decode("latin-1") for p in Path(local).rglob("*") if p.is_file()]
    study = optuna.load_study(study_name=experiment_name, storage=storage)
    system_attrs = study_system_attrs(study)  # notes live here
    parts += [json.dumps(study.user_attrs), json.dumps(system_attrs, default=str)]
    for trial in study.get_trials():
        parts += [json.dumps(trial.user_attrs, default=str), json.dumps(trial.system_attrs, default=str)]
    return "\n".join(parts)


def test_no_password_is_logged_anywhere(tmp_path, postgres_server, postgres_url, mlflow_on_postgres):
    uri, _ = mlflow_on_postgres
    storage_password = postgres_server.password
    assert storage_password and storage_password in postgres_url
    tracking = uri.replace("http://", f"http://optflow:{TRACKING_PASSWORD}@")
    config = write_config(tmp_path, "secret", "random", 3, RANDOM_SPACE)
    shared = tmp_path / "shared-artifacts"  # what several machines would mount
    output = finish(tune(config, postgres_url, tracking, "--workers", "2", "--artifact-dir", str(shared), quiet=False))

    trials = optuna.load_study(study_name="secret", storage=postgres_url).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    logged = everything_logged(uri, "secret", postgres_url, tmp_path / "download")
    logged += output
    optuna_files = [p for p in shared.rglob("*") if p.is_file()]
    best_config = shared / "secret" / "best_config.yaml"
    assert best_config in optuna_files  # the best trial's config to replay, beside the artifacts
    checkpoints = [p for p in optuna_files if p.suffix == ".pt"]
    assert [p.parent.name for p in checkpoints] == ["secret"]  # only the best trial's final checkpoint stays
    assert len(optuna_files) == 3 + 1 + 1  # a loss curve per trial (both workers), the best config, its checkpoint
    logged += "".join(p.read_bytes().decode("latin-1") for p in optuna_files)
    for secret in (storage_password, TRACKING_PASSWORD):
        assert secret not in logged
    assert "postgres:***@" in logged  # shown masked, so a user can still see which database it was
