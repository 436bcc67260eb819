"""Multi-fidelity pruners with epochs as the budget: successive halving stops trials only at its rungs, and
Hyperband's largest budget is the most epochs a trial can run."""

from __future__ import annotations

import optuna
import pytest

import optflow
from optflow.config import build_config
from optflow.search.pruners import PRUNERS, idle_pruner, make_pruner
from optflow.study.study import max_epochs


def test_every_pruner_builds():
    for name in PRUNERS:
        assert isinstance(make_pruner(name, 9), optuna.pruners.BasePruner)


def test_hyperbands_largest_budget_is_the_most_epochs_a_trial_runs():
    fixed = build_config({"training": {"epochs": 27}, "study": {"pruner": "hyperband"}})
    searched = build_config({"training": {"epochs": 5}, "search": {"epochs": {"type": "int", "low": 3, "high": 40}}})
    chosen = build_config({"search": {"epochs": {"type": "categorical", "choices": [10, 30, 20]}}})
    assert [max_epochs(c) for c in (fixed, searched, chosen)] == [27, 40, 30]
    assert make_pruner("hyperband", 27)._max_resource == 27  # Optuna's convention: the last step + 1


@pytest.mark.parametrize("pruner", ["sha", "hyperband"])
def test_multi_fidelity_pruners_stop_trials_at_their_rungs(tmp_path, pruner):
    """Rungs at steps 1, 3 and 9 (reduction factor 3), that is after 2, 4 and 10 epochs: a pruned trial ran
    exactly that many."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    config = {
        "study": {"name": pruner, "sampler": "random", "n_trials": 12, "pruner": pruner, "storage": storage},
        "data": {"name": "iris"},
        "training": {"epochs": 9, "batch_size": 16},
        "search": {"lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True}},
    }
    optflow.tune(config, tracking=False)
    study = optuna.load_study(study_name=pruner, storage=storage)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned
    rung_epochs = {2, 4}  # (and 10, beyond these 9-epoch trials)
    assert {len(t.intermediate_values) for t in pruned} <= rung_epochs


IDLE = [("median", 5, True), ("median", 6, False), ("sha", 1, True), ("hyperband", 1, True), ("hyperband", 2, False)]


@pytest.mark.parametrize(("name", "epochs", "idle"), [*IDLE, ("none", 1, False), ("median", "auto", False)])
def test_idle_pruner_says_when_a_pruner_cannot_act(name, epochs, idle):
    assert (idle_pruner(name, epochs) is not None) == idle
