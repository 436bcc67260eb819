"""Which checkpoint files a study keeps, and which interrupted trials the next session queues again."""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import TrialState

from optflow.config import build_config
from optflow.contract import ATTR_FAIL_REASON, ATTR_INTERRUPTED, ATTR_RESUME_OF
from optflow.search.optuna_private import enqueued_params
from optflow.study.checkpoints import StudyCheckpoints, checkpoint_path, remove_finished, requeue_interrupted, trial_key


def study_with_every_kind_of_trial():
    """Trials 0-6: best, worse, pruned, interrupted, running, failed by itself, a lost trial's retry."""
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(params={"x": 0.1}, distributions=_x(), value=1.0))
    study.add_trial(optuna.trial.create_trial(params={"x": 0.2}, distributions=_x(), value=2.0))
    study.add_trial(optuna.trial.create_trial(params={"x": 0.3}, distributions=_x(), state=TrialState.PRUNED))
    interrupted = optuna.trial.create_trial(
        params={"x": 0.4}, distributions=_x(), state=TrialState.FAIL, user_attrs={ATTR_INTERRUPTED: True}
    )
    study.add_trial(interrupted)
    running = study.ask(_x())
    diverged = {ATTR_FAIL_REASON: "diverged: train_loss is nan at epoch 3"}
    study.add_trial(
        optuna.trial.create_trial(params={"x": 0.5}, distributions=_x(), state=TrialState.FAIL, user_attrs=diverged)
    )
    lost = optuna.trial.create_trial(params={"x": 0.6}, distributions=_x(), state=TrialState.FAIL)
    lost.number = 6  # the heartbeat failed trial 6 (not added) and Optuna's retry queued this copy of it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback()(study, lost)
    return study, running


def _x():
    return {"x": optuna.distributions.FloatDistribution(0, 1)}


def test_finished_trials_files_go_but_the_best_interrupted_and_running_ones_stay(tmp_path):
    study, running = study_with_every_kind_of_trial()
    tmp_path = tmp_path / "checkpoints"
    tmp_path.mkdir()
    for number in range(8):  # trial 7 started after the snapshot below: it keeps its file
        checkpoint_path(tmp_path, number).write_bytes(b"state")
    (tmp_path / ".trial-0002.pt.x1y2.partial").write_bytes(b"half")  # a write a kill cut short
    (tmp_path / ".trial-0000.pt.z3w4.partial").write_bytes(b"half")  # even the best's: its whole file stays
    (tmp_path / ".trial-0004.pt.q5r6.partial").write_bytes(b"half")  # a running trial's write in progress
    (tmp_path / "trial-final.pt").write_bytes(b"not ours")
    remove_finished(study, tmp_path)
    kept = [".trial-0004.pt.q5r6.partial", "trial-0000.pt", "trial-0003.pt", "trial-0004.pt", "trial-0006.pt"]
    kept += ["trial-0007.pt", "trial-final.pt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == kept  # best, interrupted, running, retried, new
    assert running.number == 4

    remove_finished(study, tmp_path, study_over=True)  # nothing will resume them now: only the best stays
    assert sorted(path.name for path in tmp_path.iterdir()) == ["trial-0000.pt", "trial-0007.pt", "trial-final.pt"]


def test_an_interrupted_trial_with_a_checkpoint_is_queued_once_with_its_params(tmp_path):
    study, _ = study_with_every_kind_of_trial()
    assert requeue_interrupted(study, tmp_path, room=5) == []  # no checkpoint: nothing to resume from
    checkpoint_path(tmp_path, 3).write_bytes(b"state")
    assert requeue_interrupted(study, tmp_path, room=0) == []  # no budget left for it
    assert requeue_interrupted(study, tmp_path, room=5) == [3]
    queued = [t for t in study.get_trials(states=(TrialState.WAITING,)) if ATTR_RESUME_OF in t.user_attrs]
    assert [(enqueued_params(t), t.user_attrs[ATTR_RESUME_OF]) for t in queued] == [({"x": 0.4}, 3)]
    assert trial_key(queued[0]) == 3
    assert requeue_interrupted(study, tmp_path, room=5) == []  # the queued trial continues it: not twice


def test_a_checkpoint_resumes_only_in_its_own_study_and_setup(tmp_path):
    """A study deleted and made again under the same name gets a new token: its trial 0 starts over rather
    than resume the old study's trial 0 (whose file, as the best's, stayed)."""
    config = build_config({"training": {"epochs": 4}})
    trial = optuna.create_study().ask()
    old = StudyCheckpoints(tmp_path, token="old").for_trial(trial, config)
    old.save({"epoch": 2})
    assert StudyCheckpoints(tmp_path, token="old").for_trial(trial, config).load()["epoch"] == 2
    assert StudyCheckpoints(tmp_path, token="new").for_trial(trial, config).load() is None
    longer = build_config({"training": {"epochs": 6}})
    assert StudyCheckpoints(tmp_path, token="old").for_trial(trial, longer).load() is None
    threads = build_config({"training": {"epochs": 4, "threads": 2, "checkpoint_every": 1}})
    assert StudyCheckpoints(tmp_path, token="old").for_trial(trial, threads).load() is not None  # runtime only
