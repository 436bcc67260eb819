"""Notes for optuna-dashboard: links to MLflow runs (password masked) and the key numbers of a trial."""

from __future__ import annotations

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
