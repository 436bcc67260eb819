"""Samplers and pruners by name. Each factory takes (seed, search params) and returns an Optuna object."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import optuna

from optflow.budget import spends_budget
from optflow.config import SearchParam
from optflow.samplers.gp import GPSampler
from optflow.samplers.grid import ExactGridSampler
from optflow.samplers.seeding import TrialSeededSampler
from optflow.space import grid_points

SamplerFactory = Callable[[int, Sequence[SearchParam]], optuna.samplers.BaseSampler]

SAMPLERS: dict[str, SamplerFactory] = {
    # Every worker builds the grid with the same seed, so all of them shuffle it into the same order.
    "grid": lambda seed, search: ExactGridSampler(grid_points(search), seed=seed, holds_point=spends_budget),
    "random": lambda seed, search: TrialSeededSampler(optuna.samplers.RandomSampler, seed),
    "tpe": lambda seed, search: TrialSeededSampler(_tpe, seed),
    "gp": lambda seed, search: GPSampler(seed=seed),
}


def _tpe(seed: int | None) -> optuna.samplers.TPESampler:
    """Multivariate TPE with groups (parameter interactions, conditional params); the constant liar takes
    other workers' running trials as bad, so parallel workers spread out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # flags stable since Optuna 2.2
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    # Wait for 5 finished trials and 5 epochs before comparing: early epochs of SGD are noisy.
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
}


def make_sampler(name: str, seed: int, search: Sequence[SearchParam]) -> optuna.samplers.BaseSampler:
    """The named sampler, seeded."""
    return SAMPLERS[name](seed, search)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The named pruner."""
    return PRUNERS[name]()
