"""Optuna's heartbeat, as optflow sets it up: a dead worker's trial is retried and reported."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState


def test_stale_trial_callback_says_whether_the_dead_trial_is_retried():
    from optflow.study.storage import MAX_RETRIES, StaleTrialCallback

    study = optuna.create_study()
    reasons: list[str] = []
    callback = StaleTrialCallback()
    callback.on_stale = lambda trial, reason: reasons.append(reason)
    for history in ([], [0], [0, 1]):  # the original trial, its first retry, its second retry
        attrs = {"failed_trial": 0, "retry_history": list(history)} if history else {}
        study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, system_attrs=attrs))
        callback(study, study.trials[-1])
    assert [r.endswith("retried as a new trial") for r in reasons] == [True, True, False]
    assert reasons[-1].endswith(f"({MAX_RETRIES} retries used)")
    assert sum(t.state == TrialState.WAITING for t in study.trials) == MAX_RETRIES
