"""One trial as the objective runs it: its state, fail reason, pruning and the outcome it hands over."""

from __future__ import annotations

import optuna
import pytest
from mlflow import MlflowClient
from oom_model import RunsOutOfMemory
from optuna.trial import TrialState

import optflow
from optflow.config import build_config
from optflow.contract import ATTR_BATCH_SIZE_USED, ATTR_FAIL_REASON
from optflow.data import load_dataset
from optflow.records import BestSoFar
from optflow.study.objective import TrialFailed, TrialObjective
from optflow.study.options import SilentReporter
from optflow.tracking.tracker import NullTracker


class Outcomes(SilentReporter):
    def __init__(self) -> None:
        self.outcomes = []

    def trial_ended(self, outcome, worker) -> None:
        self.outcomes.append(outcome)


def objective_for(raw: dict) -> tuple[TrialObjective, Outcomes]:
    config = build_config(raw)
    reporter = Outcomes()
    best = BestSoFar(config.study.maximize)
    return TrialObjective(config, load_dataset(config.data), NullTracker(), best, reporter), reporter


def test_a_diverged_trial_fails_with_its_reason_and_the_study_goes_on():
    objective, reporter = objective_for(
        {
            "data": {"name": "diabetes"},
            "training": {"epochs": 5, "batch_size": "full", "optimizer": "gd"},
            "search": {"lr": {"type": "categorical", "choices": [1.0e9]}},
        }
    )
    study = optuna.create_study()
    study.optimize(objective, n_trials=2, catch=(TrialFailed,))
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


def test_a_batch_that_runs_out_of_memory_is_halved_once_and_recorded(tmp_path):
    built: list[RunsOutOfMemory] = []

    def build(params, spec):
        built.append(RunsOutOfMemory(spec.input_shape[0], spec.n_outputs))
        return built[-1]

    storage = f"sqlite:///{tmp_path}/optuna.db"
    config = {
        "study": {"name": "oom", "n_trials": 2, "sampler": "grid", "storage": storage, "log_models": "none"},
        "data": {"name": "iris"},
        "training": {"epochs": 2},
        "search": {"batch_size": {"type": "categorical", "choices": [64, 128]}},
    }
    optflow.tune(config, model=build, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    study = optuna.load_study(study_name="oom", storage=storage)
    by_batch = {t.params["batch_size"]: t for t in study.trials}
    assert by_batch[64].state == TrialState.COMPLETE and by_batch[64].user_attrs[ATTR_BATCH_SIZE_USED] == 32
    run = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(by_batch[64].user_attrs["mlflow_run_id"])
    assert run.data.tags["optflow.batch_size_used"] == "32"
    assert run.data.params["batch_size"] == "64"  # what the sampler chose; the tag says what ran
    # 120 training rows: once is all a trial gets, so 128 -> 64 runs out again and the trial fails
    assert by_batch[128].state == TrialState.FAIL
    assert "CUDA out of memory" in by_batch[128].user_attrs[ATTR_FAIL_REASON]
    retried = [m for m in built if m.batches and m.batches[0] <= 32]
    assert retried and all(size <= 32 for m in retried for size in m.batches)


def test_every_listener_hears_the_end_even_when_one_before_it_raises():
    """A tracking listener that fails (or a second Ctrl-C inside it) must not keep the Optuna side from
    recording how the trial ended: `ended` goes to each, last-added first, and the first error comes after."""
    from optflow.records import TrialListener, TrialOutcome
    from optflow.study.trial import Listeners

    heard: list[str] = []

    class Hears(TrialListener):
        def __init__(self, name: str, error: BaseException | None = None) -> None:
            self.name, self.error = name, error

        def ended(self, outcome, model) -> None:
            heard.append(self.name)
            if self.error is not None:
                raise self.error

    listeners = Listeners(Hears("optuna"), Hears("mlflow", KeyboardInterrupt()), Hears("last", ValueError()))
    with pytest.raises(ValueError):
        listeners.ended(TrialOutcome(0, "FAIL", None, ()), None)
    assert heard == ["last", "mlflow", "optuna"]


def test_a_diverged_trial_keeps_its_reason_when_its_run_cannot_be_ended(monkeypatch):
    objective, _ = objective_for(
        {
            "data": {"name": "diabetes"},
            "training": {"epochs": 3, "batch_size": "full", "optimizer": "gd"},
            "search": {"lr": {"type": "categorical", "choices": [1.0e9]}},
        }
    )

    def broken(self, outcome, model):
        raise ConnectionError("tracking store gone")

    from optflow.tracking.trial_run import NullTrialRun

    monkeypatch.setattr(NullTrialRun, "ended", broken)
    study = optuna.create_study()
    study.optimize(objective, n_trials=1, catch=(TrialFailed, ConnectionError))
    assert study.trials[0].user_attrs[ATTR_FAIL_REASON].startswith("diverged: ")
