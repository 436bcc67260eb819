"""The budget: which trials spend it (a lost trial does not), and the grid's cap."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from optflow.config import build_config
from optflow.contract import ATTR_FAIL_REASON
from optflow.study.budget import budget, in_flight, spends_budget, trials_used


@pytest.mark.parametrize(
    "state,attrs,spends",
    [
        (TrialState.COMPLETE, {}, True),
        (TrialState.PRUNED, {}, True),
        (TrialState.RUNNING, {}, True),
        (TrialState.WAITING, {}, True),  # a retry: the dead worker's trial it replaces spent nothing
        (TrialState.FAIL, {ATTR_FAIL_REASON: "diverged: loss is nan"}, True),  # failed by itself
        (TrialState.FAIL, {}, False),  # lost to Ctrl-C or a dead worker: run again
    ],
)
def test_which_trials_spend_the_budget(state, attrs, spends):
    value = 1.0 if state == TrialState.COMPLETE else None
    trial = create_trial(state=state, value=value, user_attrs=attrs) if state != TrialState.RUNNING else None
    if trial is None:
        study = optuna.create_study()
        study.ask()
        trial = study.trials[0]
    assert spends_budget(trial) is spends
    assert trials_used([trial]) == int(spends)
    assert in_flight([trial]) is (state in (TrialState.RUNNING, TrialState.WAITING))


def test_the_grid_caps_the_budget_at_its_size():
    search = {"optimizer": {"type": "categorical", "choices": ["sgd", "adam"]}}
    assert budget(build_config({"study": {"sampler": "grid", "n_trials": 50}, "search": search})) == 2
    assert budget(build_config({"study": {"sampler": "grid", "n_trials": 1}, "search": search})) == 1
    assert budget(build_config({"study": {"sampler": "random", "n_trials": 50}, "search": search})) == 50
