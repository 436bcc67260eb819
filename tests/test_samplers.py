"""Samplers by name: the grid visits exactly its grid; random and tpe are reproducible with a seed."""

from __future__ import annotations

import itertools

import optuna
import pytest

from optflow.config import build_config
from optflow.samplers import PRUNERS, SAMPLERS, make_sampler
from optflow.space import grid_points, grid_size, suggest
from optflow.study import run_study

SEARCH = {
    "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True, "grid": [0.01, 0.1]},
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
    "epochs": {"type": "int", "low": 1, "high": 3, "n_points": 2},
    "schedule": {"type": "categorical", "choices": ["constant", "inverse_time"], "grid": ["constant"]},
    "decay_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True, "when": {"schedule": ["inverse_time"]}},
}


def sampled_params(sampler_name: str, seed: int, n_trials: int = 8) -> list[dict]:
    config = build_config({"search": SEARCH})
    study = optuna.create_study(sampler=make_sampler(sampler_name, seed, config.search))
    study.optimize(lambda trial: sum(hash(str(v)) % 7 for v in suggest(trial, config).values()), n_trials=n_trials)
    return [t.params for t in study.trials]


def test_grid_points_per_type():
    config = build_config({"search": SEARCH})
    points = grid_points(config.search)
    assert points["lr"] == [0.01, 0.1]
    assert points["optimizer"] == ["sgd", "momentum", "adam"]
    assert points["epochs"] == [1, 3]
    assert grid_size(config.search) == 2 * 3 * 2 * 1 * 3  # decay_rate: 3 log-spaced points by default


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_seeded_samplers_are_reproducible(name):
    assert sampled_params(name, seed=3) == sampled_params(name, seed=3)
    assert sampled_params(name, seed=3) != sampled_params(name, seed=4)


def test_conditional_params_only_when_active():
    for params in sampled_params("random", seed=0, n_trials=20):
        assert ("decay_rate" in params) == (params["schedule"] == "inverse_time")


def test_grid_sampler_visits_exactly_the_grid(tmp_path):
    search = {
        "lr": {"type": "float", "low": 0.01, "high": 0.1, "grid": [0.01, 0.05, 0.1]},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "batch_size": {"type": "int", "low": 16, "high": 64, "grid": [16, 64]},
    }
    config = build_config(
        {
            "study": {"sampler": "grid", "n_trials": 100, "storage": f"sqlite:///{tmp_path}/o.db", "name": "g"},
            "data": {"name": "iris"},
            "training": {"epochs": 1},
            "search": search,
        }
    )
    result = run_study(config, tracking_enabled=False, quiet=True)
    study = optuna.load_study(study_name="g", storage=f"sqlite:///{tmp_path}/o.db")
    visited = sorted((t.params["lr"], t.params["optimizer"], t.params["batch_size"]) for t in study.trials)
    expected = sorted(itertools.product([0.01, 0.05, 0.1], ["sgd", "adam"], [16, 64]))
    assert visited == expected
    assert result.n_complete == 12


def test_registries():
    assert {"grid", "random", "tpe"} <= set(SAMPLERS)
    assert set(PRUNERS) == {"none", "median"}
