"""The exact grid: each point once, across interrupts, retries and workers; Optuna's order for a seed."""

from __future__ import annotations

import itertools

import optuna
import pytest
from optuna.trial import TrialState

from optflow.config import build_config
from optflow.contract import ATTR_FAIL_REASON
from optflow.search.samplers import make_sampler
from optflow.search.samplers.grid import ExactGridSampler
from optflow.search.space import grid_size, suggest
from optflow.study.budget import spends_budget, trials_used
from optflow.study.options import RunOptions
from optflow.study.study import run_study

GRID = {
    "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True, "grid": [0.01, 0.1, 0.5]},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
}


def ask_params(study: optuna.Study, config) -> tuple[optuna.Trial, dict]:
    trial = study.ask()
    return trial, suggest(trial, config)


def test_exact_grid_reruns_an_interrupted_point_and_never_gives_a_held_point_twice():
    config = build_config({"search": GRID})
    study = optuna.create_study(sampler=make_sampler("grid", 0, config.search, spends_budget))
    size = grid_size(config.search)
    running, held = ask_params(study, config)  # stays RUNNING: its point is held
    interrupted, lost = ask_params(study, config)
    study.tell(interrupted, state=TrialState.FAIL)  # Ctrl-C: no fail reason, the point is free again
    diverged, spent = ask_params(study, config)
    diverged.set_user_attr(ATTR_FAIL_REASON, "diverged: loss is nan")
    study.tell(diverged, state=TrialState.FAIL)  # failed by itself: its point is spent
    seen = [held, spent]
    while trials_used(study.get_trials()) < size:
        trial, params = ask_params(study, config)
        study.tell(trial, 1.0)
        seen.append(params)
    as_tuples = [tuple(sorted(p.items())) for p in seen]
    assert len(as_tuples) == size == len(set(as_tuples))  # every point once, the interrupted one included
    assert lost in seen[1:]  # given to a later trial (here the very next one)
    assert running.number == 0 and study.get_trials()[0].state == TrialState.RUNNING


def test_an_interrupted_trial_queued_to_resume_holds_its_point():
    config = build_config({"search": GRID})
    study = optuna.create_study(sampler=make_sampler("grid", 0, config.search, spends_budget))
    interrupted, params = ask_params(study, config)
    study.tell(interrupted, state=TrialState.FAIL)  # Ctrl-C: its point is free until the resumed trial holds it
    study.enqueue_trial(params)  # what the next session does when the trial left a checkpoint
    seen = []
    while trials_used(study.get_trials()) < grid_size(config.search):
        trial, drawn = ask_params(study, config)
        study.tell(trial, 1.0)
        seen.append(tuple(sorted(drawn.items())))
    assert seen[0] == tuple(sorted(params.items()))
    assert len(seen) == len(set(seen)) == grid_size(config.search)  # its point once: no other trial took it


@pytest.mark.parametrize("seed", [0, 5])
def test_points_come_in_the_order_optunas_grid_sampler_gives_them(seed):
    """Same seed, same order: a study can move between the two samplers, and results compare."""
    space = {"lr": [0.01, 0.1, 0.5], "optimizer": ["sgd", "adam"], "epochs": [1, 2]}

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("lr", 0.001, 1.0)
        trial.suggest_categorical("optimizer", ["sgd", "adam"])
        return trial.suggest_int("epochs", 1, 2)

    def visit(sampler) -> list[dict]:
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=20)  # both stop at the grid's 12 points
        return [t.params for t in study.trials]

    ours = visit(ExactGridSampler(space, seed=seed))
    assert ours == visit(optuna.samplers.GridSampler(space, seed=seed))
    assert len({tuple(sorted(p.items())) for p in ours}) == 12


def test_a_param_outside_the_grid_is_sampled_at_random(caplog):
    study = optuna.create_study(sampler=ExactGridSampler({"x": [1, 2]}, seed=0))
    values = []
    for _ in range(2):
        trial = study.ask()
        values.append((trial.suggest_categorical("x", [1, 2]), trial.suggest_float("y", 0.0, 1.0)))
        study.tell(trial, 0.0)
    assert sorted(x for x, _ in values) == [1, 2]
    assert all(0.0 <= y <= 1.0 for _, y in values) and values[0][1] != values[1][1]
    assert caplog.text.count("'y' is not in the grid") == 1  # said once, not per trial


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
    result = run_study(config, RunOptions(tracking=False))
    study = optuna.load_study(study_name="g", storage=f"sqlite:///{tmp_path}/o.db")
    visited = sorted((t.params["lr"], t.params["optimizer"], t.params["batch_size"]) for t in study.trials)
    expected = sorted(itertools.product([0.01, 0.05, 0.1], ["sgd", "adam"], [16, 64]))
    assert visited == expected
    assert result.n_complete == 12
