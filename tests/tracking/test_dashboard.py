"""Notes for optuna-dashboard: links to MLflow runs (password masked) and the key numbers of a trial."""

from __future__ import annotations

import json
import sys
import urllib.request

import optuna
import pytest
from conftest import free_port, start_server, stop_server

from optflow.records import EpochRecord, TrialOutcome
from optflow.tracking.dashboard import mlflow_run_link, trial_note


def test_link_to_a_tracking_server_masks_the_password():
    link = mlflow_run_link("https://bob:hunter2@mlflow.example.org/", "3", "abc")
    assert link == "[abc](https://bob:***@mlflow.example.org/#/experiments/3/runs/abc?workflowType=machine_learning)"


def test_local_store_gets_the_run_id_and_how_to_open_it():
    assert mlflow_run_link("sqlite:///mlflow.db", "1", "abc") == (
        "`abc` (open with `mlflow ui --backend-store-uri sqlite:///mlflow.db`)"
    )


def test_trial_note_has_state_value_epochs_and_reason():
    records = [EpochRecord(0, 1.0, 0.9, 0.1, 10, 0.5, val_accuracy=0.7)]
    outcome = TrialOutcome(0, "PRUNED", None, records, reason="pruned at epoch 0")
    note = trial_note(outcome, "val_loss", "`r1`")
    assert note.startswith("**PRUNED**\n\n1 epochs in 0.50 s; last epoch: train_loss 1, val_loss 0.9")
    assert "reason: pruned at epoch 0" in note and note.endswith("MLflow run: `r1`")


@pytest.mark.slow
def test_dashboard_command_serves_the_study_with_notes_links_and_artifacts(tmp_path, monkeypatch):
    """`optflow dashboard` starts a real optuna-dashboard server on 127.0.0.1 over a study optflow ran: its
    HTTP API returns the trials with intermediate values, MLflow links, notes and loss-curve artifacts."""
    from optflow.config import build_config
    from optflow.study.options import RunOptions
    from optflow.study.study import run_study

    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    config = build_config(
        {
            "study": {"name": "served", "storage": storage, "sampler": "random", "n_trials": 2, "log_models": "none"},
            "data": {"name": "iris"},
            "training": {"epochs": 3},
            "search": {"lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}},
        }
    )
    run_study(config, RunOptions(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db"))
    port = free_port()
    command = [sys.executable, "-m", "optflow", "dashboard", "--storage", storage, "--port", str(port)]
    server = start_server(command, "listening on")  # printed once the socket is bound
    base = f"http://127.0.0.1:{port}"
    try:
        assert f"{base}/" in server.ready_output
        summaries = get_json(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["served"]
        study_id = summaries[0]["study_id"]
        detail = get_json(f"{base}/api/studies/{study_id}")
        assert "MLflow study run" in detail["note"]["body"]
        assert len(detail["trials"]) == 2
        for trial in detail["trials"]:
            assert len(trial["intermediate_values"]) == 3
            attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
            assert attrs["mlflow_run_id"] in trial["note"]["body"]
            (artifact,) = trial["artifacts"]
            assert artifact["filename"] == "loss_curve.png"
            url = f"{base}/artifacts/{study_id}/{trial['trial_id']}/{artifact['artifact_id']}"
            with urllib.request.urlopen(url, timeout=30) as response:
                assert response.read(8) == b"\x89PNG\r\n\x1a\n"
    finally:
        stop_server(server)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_reserved_artifact_reads_back_through_optunas_public_api(tmp_path):
    from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta

    from optflow.tracking.dashboard import reserve_artifact, write_artifact

    study = optuna.create_study()
    trial = study.ask()
    artifact_id = reserve_artifact(trial, "loss_curve.png", "image/png")
    write_artifact(str(tmp_path), artifact_id, b"png bytes")
    study.tell(trial, 1.0)
    (meta,) = get_all_artifact_meta(study.trials[0], storage=study._storage)
    assert (meta.artifact_id, meta.filename, meta.mimetype) == (artifact_id, "loss_curve.png", "image/png")
    download_artifact(
        artifact_store=FileSystemArtifactStore(str(tmp_path)),
        artifact_id=artifact_id,
        file_path=str(tmp_path / "back.png"),
    )
    assert (tmp_path / "back.png").read_bytes() == b"png bytes"
