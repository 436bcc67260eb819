"""Trials that survive: a worker killed outright (SIGKILL) or stopped by Ctrl-C leaves a checkpoint, and the
same command run again resumes the trial from it: the curve goes on where it stopped, and on the CPU the trial
ends with the weights of a run never stopped. Old checkpoints go; the best trial's final one stays."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from processes import ctrl_c, start, study_runs, trials_in_training, wait_until, write_config

import optflow
from optflow.errors import EXIT_INTERRUPTED

pytestmark = pytest.mark.slow
SPACE = {
    "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "dropout": {"type": "float", "low": 0.1, "high": 0.3},  # the RNG states are part of the checkpoint
}
TRAINING = {"epochs": 40, "batch_size": 8, "optimizer": "adam", "checkpoint_every": 5}  # a few seconds a trial
SHORT_HEARTBEAT = {"OPTFLOW_HEARTBEAT_SECONDS": "1", "OPTFLOW_GRACE_SECONDS": "2"}  # a dead worker is seen soon


def checkpoints(directory: Path, name: str) -> list[Path]:
    return sorted((directory / "optuna_artifacts" / "checkpoints" / name).glob("*"))


def uninterrupted(tmp_path: Path, config: Path) -> tuple[dict, dict]:
    """The same study run straight through, in its own directory: (trial 0's curve, its final checkpoint)."""
    straight = tmp_path / "straight"
    straight.mkdir()
    storage = f"sqlite:///{straight}/optuna.db"
    optflow.tune(config, overrides={"study.storage": storage}, tracking=False)
    (trial,) = optuna.load_study(study_name="resume", storage=storage).trials
    (final,) = checkpoints(straight, "resume")
    return trial.intermediate_values, torch.load(final, weights_only=False)


def assert_resumed_like_a_straight_run(tmp_path: Path, config: Path, resumed: optuna.trial.FrozenTrial) -> None:
    curve, final = uninterrupted(tmp_path, config)
    assert resumed.intermediate_values == curve  # every epoch, replayed and trained again, to the last digit
    files = checkpoints(tmp_path, "resume")  # older ones and cut-short writes removed; the best's final one stays
    assert [path.name for path in files] == ["trial-0000.pt"]
    (kept,) = files
    state = torch.load(kept, weights_only=False)
    assert state["finished"] and state["epoch"] == TRAINING["epochs"]
    for part in ("model", "best_state"):
        for name, tensor in final[part].items():
            assert torch.equal(state[part][name], tensor), (part, name)


def test_a_killed_workers_trial_resumes_from_its_checkpoint_when_retried(tmp_path):
    config = write_config(tmp_path, "resume", "random", 1, SPACE, TRAINING)
    process = start(tmp_path, config, env=SHORT_HEARTBEAT)
    rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")
    wait_until(
        lambda: any(len(t.intermediate_values) > 11 for t in trials_in_training(rdb, "resume")),
        timeout=240,
        what="a trial past its second checkpoint",
    )
    os.killpg(process.pid, signal.SIGKILL)  # the OOM killer, say: nothing of the worker runs any more
    process.wait()
    killed = optuna.load_study(study_name="resume", storage=rdb).trials[0]
    assert killed.state == TrialState.RUNNING and checkpoints(tmp_path, "resume")

    again = start(tmp_path, config, env=SHORT_HEARTBEAT)  # a dead worker's trial is retried by the next one
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    lost, retry = optuna.load_study(study_name="resume", storage=rdb).trials
    assert lost.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    epoch = retry.user_attrs["resumed_from_epoch"]
    assert epoch % 5 == 0 and 10 <= epoch <= len(killed.intermediate_values)  # the last checkpoint before the kill
    assert all(retry.intermediate_values[e] == v for e, v in killed.intermediate_values.items() if e < epoch)
    _, runs = study_runs(f"sqlite:///{tmp_path}/mlflow.db", "resume")
    (retry_run,) = [run for run in runs if run.data.tags.get("optuna.trial_state") == "COMPLETE"]
    assert retry_run.data.tags["optflow.resumed_from_epoch"] == str(epoch)
    assert retry_run.data.tags["optflow.retry_of"] == "0"
    assert_resumed_like_a_straight_run(tmp_path, config, retry)


def test_an_interrupted_trial_is_resumed_mid_epoch_by_the_next_session(tmp_path):
    training = {**TRAINING, "checkpoint_every": 100}  # no periodic checkpoint: only the one Ctrl-C writes
    config = write_config(tmp_path, "resume", "random", 1, SPACE, training)
    process = start(tmp_path, config)
    rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")
    wait_until(
        lambda: any(len(t.intermediate_values) > 3 for t in trials_in_training(rdb, "resume")),
        timeout=240,
        what="a trial in mid-training",
    )
    out, err = ctrl_c(process)
    assert process.returncode == EXIT_INTERRUPTED, err
    (interrupted,) = optuna.load_study(study_name="resume", storage=rdb).trials
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["interrupted"] is True
    stopped_at = torch.load(checkpoints(tmp_path, "resume")[0], weights_only=False)
    assert stopped_at["epoch"] == len(interrupted.intermediate_values)  # the epoch it was in when stopped

    again = start(tmp_path, config)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "optflow: resuming interrupted trial 0 from checkpoints" in err
    _, resumed = optuna.load_study(study_name="resume", storage=rdb).trials
    assert resumed.state == TrialState.COMPLETE and resumed.user_attrs["resume_of"] == 0
    assert resumed.params == interrupted.params
    assert resumed.user_attrs["resumed_from_epoch"] == stopped_at["epoch"]
    assert_resumed_like_a_straight_run(tmp_path, config, resumed)
