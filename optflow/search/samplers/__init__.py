"""Samplers by name (`study.sampler`). Each factory takes (seed, searched params, which trials spent budget).

Every factory builds the same sampler in every worker from the same seed: random numbers are drawn per
trial (`seeding.py`), and the grid is shuffled into one order.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import optuna
from optuna.trial import FrozenTrial

from optflow.config import SearchParam
from optflow.search.samplers.grid import ExactGridSampler
from optflow.search.samplers.seeding import TrialSeededSampler
from optflow.search.space import grid_points

TrialFilter = Callable[[FrozenTrial], bool]
SamplerFactory = Callable[[int, Sequence[SearchParam], TrialFilter], optuna.samplers.BaseSampler]


def _tpe(seed: int | None) -> optuna.samplers.TPESampler:
    """Multivariate TPE with groups (parameter interactions, conditional params); the constant liar takes
    other workers' running trials as bad, so parallel workers spread out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # flags stable since Optuna 2.2
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def _gp(seed: int | None) -> optuna.samplers.BaseSampler:
    """optflow's GP sampler; scipy's optimisers load only for a study that uses it (every process pays the
    imports of what it loads)."""
    from optflow.search.samplers.gp import GPSampler

    return GPSampler(seed=seed)


SAMPLERS: dict[str, SamplerFactory] = {
    # A grid point stays held by a trial that spent budget; a trial lost to Ctrl-C or a dead worker frees it.
    "grid": lambda seed, search, spent: ExactGridSampler(grid_points(search), seed=seed, holds_point=spent),
    "random": lambda seed, search, spent: TrialSeededSampler(optuna.samplers.RandomSampler, seed),
    "tpe": lambda seed, search, spent: TrialSeededSampler(_tpe, seed),
    "gp": lambda seed, search, spent: _gp(seed),
}


def make_sampler(
    name: str, seed: int, search: Sequence[SearchParam], spent: TrialFilter = lambda trial: True
) -> optuna.samplers.BaseSampler:
    """The named sampler, seeded; `spent` says which trials have spent budget (and hold their grid point)."""
    return SAMPLERS[name](seed, search, spent)
