"""Which checkpoint files a study keeps, and which interrupted trials the next session queues again."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from optflow.contract import ATTR_INTERRUPTED, ATTR_RESUME_OF
from optflow.study.checkpoints import checkpoint_path, remove_finished, requeue_interrupted, trial_key


def study_with_every_kind_of_trial():
    """Trials 0-5: best, worse, pruned, interrupted, running, failed by itself."""
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(params={"x": 0.1}, distributions=_x(), value=1.0))
    study.add_trial(optuna.trial.create_trial(params={"x": 0.2}, distributions=_x(), value=2.0))
    study.add_trial(optuna.trial.create_trial(params={"x": 0.3}, distributions=_x(), state=TrialState.PRUNED))
    interrupted = optuna.trial.create_trial(
        params={"x": 0.4}, distributions=_x(), state=TrialState.FAIL, user_attrs={ATTR_INTERRUPTED: True}
    )
    study.add_trial(interrupted)
    running = study.ask(_x())
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions=_x(), state=TrialState.FAIL))
    return study, running


def _x():
    return {"x": optuna.distributions.FloatDistribution(0, 1)}


def test_finished_trials_files_go_but_the_best_interrupted_and_running_ones_stay(tmp_path):
    study, running = study_with_every_kind_of_trial()
    tmp_path = tmp_path / "checkpoints"
    tmp_path.mkdir()
    for number in range(6):
        checkpoint_path(tmp_path, number).write_bytes(b"state")
    (tmp_path / ".trial-0002.pt.123.partial").write_bytes(b"half")  # a write a kill cut short
    remove_finished(study, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["trial-0000.pt", "trial-0003.pt", "trial-0004.pt"]
    assert running.number == 4


def test_an_interrupted_trial_with_a_checkpoint_is_queued_once_with_its_params(tmp_path):
    study, _ = study_with_every_kind_of_trial()
    assert requeue_interrupted(study, tmp_path, room=5) == []  # no checkpoint: nothing to resume from
    checkpoint_path(tmp_path, 3).write_bytes(b"state")
    assert requeue_interrupted(study, tmp_path, room=0) == []  # no budget left for it
    assert requeue_interrupted(study, tmp_path, room=5) == [3]
    queued = study.get_trials(states=(TrialState.WAITING,))
    assert [(t.system_attrs["fixed_params"], t.user_attrs[ATTR_RESUME_OF]) for t in queued] == [({"x": 0.4}, 3)]
    assert trial_key(queued[0]) == 3
    assert requeue_interrupted(study, tmp_path, room=5) == []  # the queued trial continues it: not twice
