"""The search space: config entries -> Optuna distributions, per-trial suggestions and grid points."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from optflow.config import build_config
from optflow.search.space import distribution, grid_points, grid_size, suggest

SEARCH = {
    "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True, "grid": [0.01, 0.1]},
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
    "epochs": {"type": "int", "low": 1, "high": 3, "n_points": 2},
    "schedule": {"type": "categorical", "choices": ["constant", "inverse_time"], "grid": ["constant"]},
    "decay_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True, "when": {"schedule": ["inverse_time"]}},
}


def test_each_entry_becomes_its_optuna_distribution():
    params = {p.name: p for p in build_config({"search": SEARCH}).search}
    assert distribution(params["lr"]) == FloatDistribution(1e-3, 1.0, log=True)
    assert distribution(params["epochs"]) == IntDistribution(1, 3)
    assert distribution(params["optimizer"]) == CategoricalDistribution(("sgd", "momentum", "adam"))


def test_grid_points_per_type():
    config = build_config({"search": SEARCH})
    points = grid_points(config.search)
    assert points["lr"] == [0.01, 0.1]
    assert points["optimizer"] == ["sgd", "momentum", "adam"]
    assert points["epochs"] == [1, 3]
    assert grid_size(config.search) == 2 * 3 * 2 * 1 * 3  # decay_rate: 3 log-spaced points by default


def test_conditional_params_only_when_active():
    config = build_config({"search": SEARCH})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = suggest(study.ask(), config)
        assert ("decay_rate" in params) == (params["schedule"] == "inverse_time")
