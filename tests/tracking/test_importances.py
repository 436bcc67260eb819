"""Parameter importances of a study of several objectives are those of its first objective, `study.metric`."""

from __future__ import annotations

import optuna
import pytest

from optflow.tracking.report import importances

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("first", ["maximize", "minimize"])
def test_the_param_that_drives_the_first_objective_matters_most_in_either_direction(first):
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x, z = trial.suggest_float("x", 0, 1), trial.suggest_float("z", 0, 1)
        good = float(x > 0.85)  # only x moves the first objective, towards its better end
        return (good if first == "maximize" else -good), z

    study = optuna.create_study(directions=[first, "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=60)
    values = importances(study)
    assert values["x"] > values["z"]
