"""GPSampler: Optuna's own sampler contract tests, robustness cases, and an optimisation test that could fail."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, MultiObjectiveSamplerTestCase, RelativeSamplerTestCase
from optuna.trial import TrialState

from optflow.search.samplers.gp import GPSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TestGPSamplerContract(BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase):
    """The test cases Optuna runs on its own samplers (optuna.testing.pytest_samplers)."""

    @pytest.fixture
    def sampler(self):
        return lambda: GPSampler(seed=0, n_startup_trials=1)


def quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    n = trial.suggest_int("n", 1, 9)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    return (x - 1.3) ** 2 + (n - 4) ** 2 + (0.0 if kind == "b" else 3.0)


def test_params_are_plain_python_types():
    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=3))
    study.optimize(quadratic, n_trials=6)
    for trial in study.trials:
        assert type(trial.params["x"]) is float and type(trial.params["n"]) is int
        assert trial.params["kind"] in ("a", "b", "c")


def test_same_seed_same_trials():
    def run(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=GPSampler(seed=seed, n_startup_trials=3))
        study.optimize(quadratic, n_trials=8)
        return [t.params for t in study.trials]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_failed_pruned_nan_and_inf_trials_do_not_break_it():
    calls = {"n": 0}

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        calls["n"] += 1
        kind = calls["n"] % 5
        if kind == 0:
            raise RuntimeError("boom")
        if kind == 1:
            trial.report(x, 0)
            raise optuna.TrialPruned()
        if kind == 2:
            return float("nan")
        if kind == 3:
            return float("inf")
        return x

    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=3))
    study.optimize(objective, n_trials=25, catch=(RuntimeError,))
    assert len(study.trials) == 25
    assert {t.state for t in study.trials} >= {TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED}


def test_all_equal_values_and_duplicates():
    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=2))
    for _ in range(3):
        study.enqueue_trial({"x": 0.5})
    study.optimize(lambda t: 1.0 + 0 * t.suggest_float("x", 0, 1), n_trials=8)
    xs = [t.params["x"] for t in study.trials]
    assert all(0 <= x <= 1 for x in xs) and len(set(xs[3:])) > 1  # explores rather than repeating


def test_single_trial_then_gp():
    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=1))
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    assert len(study.trials) == 3


@pytest.mark.parametrize("dim", [1, 20])
def test_one_and_twenty_dimensions(dim):
    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=5))
    study.optimize(lambda t: sum(t.suggest_float(f"x{i}", -1, 1) ** 2 for i in range(dim)), n_trials=12)
    assert study.best_value < dim / 3  # better than the expected value of a random point


def test_conditional_space():
    def objective(trial: optuna.Trial) -> float:
        schedule = trial.suggest_categorical("schedule", ["constant", "exponential"])
        lr = trial.suggest_float("lr", 1e-4, 1, log=True)
        if schedule == "exponential":
            return math.log(lr) ** 2 + trial.suggest_float("decay_rate", 0.01, 1.0)
        return math.log(lr) ** 2

    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=4))
    study.optimize(objective, n_trials=15)
    assert all(("decay_rate" in t.params) == (t.params["schedule"] == "exponential") for t in study.trials)


def test_threads_share_one_sampler():
    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=4))
    study.optimize(quadratic, n_trials=14, n_jobs=2)
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == 14


def test_rdb_storage_round_trip(tmp_path):
    storage = f"sqlite:///{tmp_path}/gp.db"
    study = optuna.create_study(storage=storage, study_name="gp", sampler=GPSampler(seed=0, n_startup_trials=3))
    study.optimize(quadratic, n_trials=5)
    again = optuna.load_study(storage=storage, study_name="gp", sampler=GPSampler(seed=0, n_startup_trials=3))
    again.optimize(quadratic, n_trials=3)
    assert len(again.trials) == 8


def test_running_trials_are_not_proposed_again():
    """Kriging believer: a RUNNING trial's point is taken as observed, so the next proposal differs."""
    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=5))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2 + t.suggest_float("y", 0, 1), n_trials=7)
    first = study.ask()
    proposal = (first.suggest_float("x", 0, 1), first.suggest_float("y", 0, 1))
    second = study.ask()  # `first` is still RUNNING
    assert (second.suggest_float("x", 0, 1), second.suggest_float("y", 0, 1)) != proposal
    study.tell(first, 0.0)
    study.tell(second, 0.0)


def branin(trial: optuna.Trial) -> float:
    x, y = trial.suggest_float("x", -5, 10), trial.suggest_float("y", 0, 15)
    return (
        (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10
    )


def test_beats_random_search_on_a_smooth_function():
    def median_best(make_sampler) -> float:
        bests = []
        for seed in range(5):
            study = optuna.create_study(sampler=make_sampler(seed))
            study.optimize(branin, n_trials=25)
            bests.append(study.best_value)
        return float(np.median(bests))

    gp = median_best(lambda seed: GPSampler(seed=seed))
    random = median_best(lambda seed: optuna.samplers.RandomSampler(seed=seed))
    assert gp < random
    assert gp - 0.397887 < 0.1  # near the global minimum


def _worker(storage: str, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="shared", storage=storage, sampler=GPSampler(seed=seed, n_startup_trials=4))
    study.optimize(quadratic, n_trials=8)


def test_several_processes_share_one_rdb_study(tmp_path):
    import multiprocessing

    storage = f"sqlite:///{tmp_path}/shared.db"
    optuna.create_study(study_name="shared", storage=storage)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(storage, seed)) for seed in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0, 0]
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 16 and all(t.state == TrialState.COMPLETE for t in trials)
    proposals = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(proposals)) == len(proposals)
