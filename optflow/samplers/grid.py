"""Grid search that gives each grid point to exactly one trial, across workers, retries and resumes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState


class ExactGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler with a stricter choice of point.

    Optuna's sampler gives trial k the k-th point and, past the grid size, a random unvisited one, taking
    every finished trial as visited. Two workers can then pick one point (Optuna logs a warning and
    evaluates it twice), and a point whose trial was interrupted by Ctrl-C is never evaluated. Here a trial
    takes the first point (in the seeded order) not held by another trial; `holds_point` says which trials
    hold theirs (optflow passes the trials that spend budget, `optflow.budget.spends_budget`). Called under
    the study lock, the choice is exactly once. Retries of a dead worker's trial keep their point, as in Optuna.
    """

    def __init__(
        self,
        search_space: Mapping[str, Sequence[Any]],
        seed: int | None = None,
        *,
        holds_point: Callable[[FrozenTrial], bool] = lambda trial: trial.state != TrialState.WAITING,  # as Optuna
    ) -> None:
        super().__init__(search_space, seed=seed)
        self._holds_point = holds_point

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "grid_id" in trial.system_attrs or "fixed_params" in trial.system_attrs:
            return
        held = {
            other.system_attrs["grid_id"]
            for other in study._storage.get_all_trials(study._study_id, deepcopy=False)
            if other.number != trial.number
            and "grid_id" in other.system_attrs
            and self._same_search_space(other.system_attrs["search_space"])
            and self._holds_point(other)
        }
        free = [grid_id for grid_id in range(len(self._all_grids)) if grid_id not in held]
        if not free:  # the budget check was bypassed (an enqueued trial): Optuna re-evaluates a point
            super().before_trial(study, trial)
            return
        study._storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
        study._storage.set_trial_system_attr(trial._trial_id, "grid_id", free[0])
