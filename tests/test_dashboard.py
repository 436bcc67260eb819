"""Notes for optuna-dashboard: links to MLflow runs (password masked) and the key numbers of a trial."""

from __future__ import annotations

import json
import sys
import urllib.request

import optuna
import pytest
from conftest import free_port, start_server, stop_server

from optflow.dashboard import mlflow_run_link, trial_note
from optflow.records import EpochRecord


def test_link_to_a_tracking_server_masks_the_password():
    link = mlflow_run_link("https://bob:hunter2@mlflow.example.org/", "3", "abc")
    assert link == "[abc](https://bob:***@mlflow.example.org/#/experiments/3/runs/abc)"


def test_local_store_gets_the_run_id_and_how_to_open_it():
    assert mlflow_run_link("sqlite:///mlflow.db", "1", "abc") == (
        "`abc` (open with `mlflow ui --backend-store-uri sqlite:///mlflow.db`)"
    )


def test_trial_note_has_state_value_epochs_and_reason():
    records = [EpochRecord(0, 1.0, 0.9, 0.1, 10, 0.5, val_accuracy=0.7)]
    note = trial_note("PRUNED", None, "val_loss", records, "pruned at epoch 0", "`r1`")
    assert note.startswith("**PRUNED**\n\n1 epochs in 0.50 s; last epoch: train_loss 1, val_loss 0.9")
    assert "reason: pruned at epoch 0" in note and note.endswith("MLflow run: `r1`")


@pytest.mark.slow
def test_dashboard_command_serves_the_study(tmp_path):
    """`optflow dashboard` starts a real optuna-dashboard server on 127.0.0.1 that lists the study."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="served", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    port = free_port()
    command = [sys.executable, "-m", "optflow", "dashboard", "--storage", storage, "--port", str(port)]
    server = start_server(command, "listening on")  # printed once the socket is bound
    try:
        assert f"http://127.0.0.1:{port}/" in server.ready_output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=30) as response:
            summaries = json.load(response)["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["served"]
    finally:
        stop_server(server)
