"""Which trial is "the best": with several objectives, always one on the Pareto front."""

from __future__ import annotations

import optuna

from optflow.search.ranking import best_trial, pareto_trials, ranked


def study_of(points: list[tuple[float, float]], directions: list[str]) -> optuna.Study:
    study = optuna.create_study(directions=directions)
    x = optuna.distributions.FloatDistribution(0, 1)
    for i, values in enumerate(points):
        study.add_trial(optuna.trial.create_trial(params={"x": i / 10}, distributions={"x": x}, values=values))
    return study


def test_a_tie_on_the_first_objective_goes_to_the_trial_the_second_prefers():
    """(0.5, 0.8) and (0.5, 0.9), minimise then maximise: trial 1 dominates trial 0, so it is the best."""
    study = study_of([(0.5, 0.8), (0.5, 0.9), (0.7, 0.95)], ["minimize", "maximize"])
    assert [t.number for t in pareto_trials(study)] == [1, 2]
    assert best_trial(study).number == 1 == pareto_trials(study)[0].number
    assert [t.number for t in ranked(study)] == [1, 0, 2]


def test_one_objective_ties_go_to_the_earlier_trial():
    study = optuna.create_study()
    x = optuna.distributions.FloatDistribution(0, 1)
    for value in (0.3, 0.2, 0.2):
        study.add_trial(optuna.trial.create_trial(params={"x": value}, distributions={"x": x}, value=value))
    assert best_trial(study).number == 1
