"""Samplers by name: every entry of SAMPLERS keeps Optuna's sampler contract; seeded ones reproduce."""

from __future__ import annotations

import optuna
import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, MultiObjectiveSamplerTestCase

from optflow.config import build_config
from optflow.search.samplers import SAMPLERS, make_sampler
from optflow.search.space import suggest

optuna.logging.set_verbosity(optuna.logging.WARNING)

SEARCH = {
    "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
    "epochs": {"type": "int", "low": 1, "high": 3},
}


class TestEveryRegisteredSampler(BasicSamplerTestCase):
    """The test cases Optuna runs on its own samplers (optuna.testing.pytest_samplers), for each name a user
    can give as `study.sampler`; the grid samples params outside its grid at random."""

    @pytest.fixture(params=sorted(SAMPLERS))
    def sampler(self, request):
        return lambda: make_sampler(request.param, 0, ())


class TestMultiObjectiveSamplers(MultiObjectiveSamplerTestCase):
    """Those that support several objectives (the GP refuses them, tested with the GP)."""

    @pytest.fixture(params=sorted(set(SAMPLERS) - {"gp"}))
    def sampler(self, request):
        return lambda: make_sampler(request.param, 0, ())


def sampled_params(sampler_name: str, seed: int, n_trials: int = 8) -> list[dict]:
    config = build_config({"search": SEARCH})
    study = optuna.create_study(sampler=make_sampler(sampler_name, seed, config.search))
    objective = {"sgd": 1.0, "momentum": 0.5, "adam": 0.2}
    study.optimize(lambda trial: sum_of(suggest(trial, config), objective), n_trials=n_trials)
    return [t.params for t in study.trials]


def sum_of(params: dict, optimizer_value: dict) -> float:
    return params["lr"] + params["epochs"] + optimizer_value[params["optimizer"]]


@pytest.mark.parametrize("name", sorted(set(SAMPLERS) - {"grid"}))
def test_seeded_samplers_are_reproducible(name):
    assert sampled_params(name, seed=3) == sampled_params(name, seed=3)
    assert sampled_params(name, seed=3) != sampled_params(name, seed=4)


def _hyperband_params(sampler_name: str, n_trials: int = 60) -> list[dict]:
    """The params each trial of a Hyperband-pruned study drew, on a curve that improves with each step."""
    config = build_config({"search": {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
                                      "dropout": {"type": "float", "low": 0.0, "high": 0.6}}})  # fmt: skip
    sampler = make_sampler(sampler_name, 0, config.search)
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)
    study = optuna.create_study(sampler=sampler, pruner=pruner)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, config)
        for step in range(9):
            value = (params["lr"] - 0.05) ** 2 + params["dropout"] / 10 + 1.0 / (step + 1)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=n_trials)
    return [t.params for t in study.trials]


def test_gp_inside_hyperband_brackets_learns_from_pruned_trials_and_leaves_random_search():
    """Optuna's Hyperband shows a sampler only its bracket's trials, few of which complete: the GP counted complete
    trials alone for its random start, so it drew exactly random search's params for ever."""
    gp, random = _hyperband_params("gp"), _hyperband_params("random")
    # each of the 3 brackets sees a third of the trials: by trial 30 each has its 10 startup observations
    same = sum(a == b for a, b in zip(gp[30:], random[30:], strict=True))
    assert same <= 10, f"{same} of the last 30 trials drew random search's params"
