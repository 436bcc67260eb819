"""Per-trial seeds: workers sharing a study with one seed never draw the same point at the same moment."""

from __future__ import annotations

import optuna
import pytest

from optflow.config import build_config
from optflow.search.samplers import make_sampler
from optflow.search.space import suggest

SPACE = {
    "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}


def ask_params(study: optuna.Study, config) -> tuple[optuna.Trial, dict]:
    trial = study.ask()
    return trial, suggest(trial, config)


@pytest.mark.parametrize("name", ["random", "tpe", "gp"])
def test_two_workers_with_one_seed_draw_different_points_and_a_trial_number_fixes_its_point(name):
    """Two samplers built with the same seed (two worker processes) sampling at the same moment."""
    config = build_config({"search": SPACE})
    storage = optuna.storages.InMemoryStorage()
    worker_a = optuna.create_study(storage=storage, study_name="s", sampler=make_sampler(name, 7, config.search))
    worker_b = optuna.load_study(storage=storage, study_name="s", sampler=make_sampler(name, 7, config.search))
    _, first = ask_params(worker_a, config)
    _, second = ask_params(worker_b, config)  # trial 0 still running
    assert first != second

    alone = optuna.create_study(sampler=make_sampler(name, 7, config.search))  # one worker, same seed
    assert [ask_params(alone, config)[1] for _ in range(2)] == [first, second]
