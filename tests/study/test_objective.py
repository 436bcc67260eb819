"""One trial as the objective runs it: its state, fail reason, pruning and the outcome it hands over."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from optflow.config import build_config
from optflow.contract import ATTR_FAIL_REASON
from optflow.data import load_dataset
from optflow.records import BestSoFar
from optflow.study.objective import Objective
from optflow.study.options import SilentReporter
from optflow.tracking.tracker import NullTracker
from optflow.training import TrainingDiverged


class Outcomes(SilentReporter):
    def __init__(self) -> None:
        self.outcomes = []

    def trial_ended(self, outcome, worker) -> None:
        self.outcomes.append(outcome)


def objective_for(raw: dict) -> tuple[Objective, Outcomes]:
    config = build_config(raw)
    reporter = Outcomes()
    best = BestSoFar(config.study.maximize)
    return Objective(config, load_dataset(config.data), NullTracker(), best, reporter), reporter


def test_a_diverged_trial_fails_with_its_reason_and_the_study_goes_on():
    objective, reporter = objective_for(
        {
            "data": {"name": "diabetes"},
            "training": {"epochs": 5, "batch_size": "full", "optimizer": "gd"},
            "search": {"lr": {"type": "categorical", "choices": [1.0e9]}},
        }
    )
    study = optuna.create_study()
    study.optimize(objective, n_trials=2, catch=(TrainingDiverged,))
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    assert study.trials[0].user_attrs[ATTR_FAIL_REASON].startswith("diverged: ")
    assert [o.state for o in reporter.outcomes] == ["FAIL", "FAIL"]
    assert all(o.value is None and o.study_best is None for o in reporter.outcomes)


def test_a_pruned_trial_hands_over_the_epochs_it_ran():
    objective, reporter = objective_for(
        {
            "study": {"pruner": "median"},
            "data": {"name": "iris"},
            "training": {"epochs": 12},
            "search": {"lr": {"type": "categorical", "choices": [0.3, 1e-7]}},
        }
    )
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2))
    for lr in (0.3, 1e-7):
        study.enqueue_trial({"lr": lr})
    study.optimize(objective, n_trials=2)
    complete, pruned = reporter.outcomes
    assert (complete.state, pruned.state) == ("COMPLETE", "PRUNED")
    assert pruned.reason == f"pruned at epoch {len(pruned.records) - 1} by the median pruner"
    assert len(pruned.records) < 12 and pruned.value is None
    assert pruned.study_best == complete.value and complete.improved and not pruned.improved


def test_the_value_is_the_best_epoch_of_the_monitored_metric():
    objective, reporter = objective_for(
        {"study": {"metric": "val_accuracy"}, "data": {"name": "iris"}, "training": {"epochs": 4}}
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    (outcome,) = reporter.outcomes
    assert study.best_value == max(r.val_accuracy for r in outcome.records) == outcome.value
    assert list(study.trials[0].intermediate_values.values()) == pytest.approx(
        [r.val_accuracy for r in outcome.records]
    )
