"""Grid search that gives each grid point to exactly one trial, across workers, retries and resumes.

Optuna's GridSampler gives trial k the k-th point and, past the grid size, a random unvisited one, taking
every finished trial as visited. Two workers can then pick one point (Optuna logs a warning and evaluates it
twice), and a point whose trial was interrupted by Ctrl-C is never evaluated. Here a trial takes the first
point, in the seeded order, that no other trial holds; `holds_point` says which trials hold theirs (optflow
passes the trials that spend budget). Called under optflow's study lock, the choice is exactly once.

The points are ordered as Optuna's GridSampler orders them for the same seed, and stored under the same
trial system attrs (`search_space`, `grid_id`), so a study can switch between the two and a retry of a dead
worker's trial (Optuna copies its system attrs) keeps its point.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from optflow.search.optuna_private import enqueued_params, set_trial_system_attr, trial_system_attrs
from optflow.search.samplers.seeding import TrialSeededSampler

logger = logging.getLogger("optflow")

GRID_ID_ATTR = "grid_id"  # trial system attrs, named as Optuna's GridSampler names them
SEARCH_SPACE_ATTR = "search_space"


def _holds_point_as_optuna(trial: FrozenTrial) -> bool:
    return trial.state != TrialState.WAITING


def _within(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    return distribution.low <= value <= distribution.high


class ExactGridSampler(optuna.samplers.BaseSampler):
    """Each point of `search_space` (name -> values) once; params outside the grid are sampled at random.

    Args:
        search_space: the values of each param; the grid is their product.
        seed: the order in which points are handed out (the same for every worker with the same seed).
        holds_point: which other trials keep their point (default: all but queued ones, as Optuna).
    """

    def __init__(
        self,
        search_space: Mapping[str, Sequence[Any]],
        seed: int | None = None,
        *,
        holds_point: Callable[[FrozenTrial], bool] = _holds_point_as_optuna,
    ) -> None:
        self._search_space = {name: list(values) for name, values in sorted(search_space.items())}
        self._points = list(itertools.product(*self._search_space.values()))
        np.random.RandomState(seed or 0).shuffle(self._points)  # as Optuna's GridSampler shuffles them
        self._names = list(self._search_space)
        self._ids = {point: grid_id for grid_id, point in enumerate(self._points)}
        self._holds_point = holds_point
        self._outside_grid = TrialSeededSampler(optuna.samplers.RandomSampler, seed)
        self._warned: set[str] = set()

    @property
    def size(self) -> int:
        return len(self._points)

    def _held(self, study: optuna.Study, current: FrozenTrial, finished_only: bool = False) -> set[int]:
        """The points other trials of this grid hold (only finished ones' with `finished_only`)."""
        return {
            trial_system_attrs(other)[GRID_ID_ATTR]
            for other in study.get_trials(deepcopy=False)
            if other.number != current.number
            and GRID_ID_ATTR in trial_system_attrs(other)
            and trial_system_attrs(other).get(SEARCH_SPACE_ATTR) == self._search_space
            and self._holds_point(other)
            and (other.state.is_finished() or not finished_only)
        }

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if GRID_ID_ATTR in trial_system_attrs(trial):
            return  # a retry keeps its point
        held = self._held(study, trial)
        fixed = enqueued_params(trial)
        if fixed is not None:  # an enqueued trial brings its own params; a free grid point among them is its
            grid_id = self._ids.get(tuple(fixed.get(name) for name in self._names))
            if grid_id is not None and grid_id not in held:  # (an interrupted trial resumed from its checkpoint)
                self._hold(study, trial, grid_id)
            return
        free = [grid_id for grid_id in range(self.size) if grid_id not in held]
        if free:
            grid_id = free[0]
        else:  # more trials than points (the caller's budget was bypassed): evaluate a point again
            grid_id = trial.number % max(self.size, 1)
            logger.warning("grid exhausted: trial %d evaluates grid point %d again", trial.number, grid_id)
        self._hold(study, trial, grid_id)

    def _hold(self, study: optuna.Study, trial: FrozenTrial, grid_id: int) -> None:
        set_trial_system_attr(study, trial, SEARCH_SPACE_ATTR, self._search_space)
        set_trial_system_attr(study, trial, GRID_ID_ATTR, grid_id)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        grid_id = trial_system_attrs(trial).get(GRID_ID_ATTR)
        if param_name not in self._search_space or grid_id is None or not self._points:
            if param_name not in self._warned:
                self._warned.add(param_name)
                logger.warning("param %r is not in the grid: it is sampled at random", param_name)
            return self._outside_grid.sample_independent(study, trial, param_name, param_distribution)
        value = self._points[grid_id][self._names.index(param_name)]
        if not _within(param_distribution, value):
            logger.warning(
                "grid value %r of %r lies outside %s; it is used anyway", value, param_name, param_distribution
            )
        return value

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._outside_grid.after_trial(study, trial, state, values)
        finished = self._held(study, trial, finished_only=True) | {trial_system_attrs(trial).get(GRID_ID_ATTR)}
        if self._search_space and len(finished) >= self.size:
            # Every point is evaluated: end `study.optimize`, as Optuna's GridSampler does. Ask-and-tell has
            # no loop to end, and `stop` raises there (so does Optuna's GridSampler): nothing to do then.
            with contextlib.suppress(RuntimeError):
                study.stop()

    def reseed_rng(self) -> None:
        """Nothing: the order of the points must be the same in every worker."""
