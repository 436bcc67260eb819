"""Search space: config `search` entries -> Optuna distributions, per-trial suggestions and grid points."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from optflow.config import Config, SearchParam


def distribution(param: SearchParam) -> BaseDistribution:
    """The Optuna distribution of one searched field."""
    if param.type == "categorical":
        return CategoricalDistribution(param.choices)
    if param.type == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
    return FloatDistribution(param.low, param.high, log=param.log, step=param.step)


def _active(param: SearchParam, values: Mapping[str, Any]) -> bool:
    return all(values[name] in allowed for name, allowed in param.when)


def fixed_values(config: Config) -> dict[str, Any]:
    """The config's own value of every searchable field, what a trial uses when a field is not sampled."""
    return {name: config.value_of(name) for name in config.searchable()}


def suggest(trial: optuna.Trial, config: Config) -> dict[str, Any]:
    """Sample the trial's params in declaration order; a conditional param is sampled only when active."""
    values = fixed_values(config)
    sampled: dict[str, Any] = {}
    for param in config.search:
        if not _active(param, values):
            continue
        value = _suggest_one(trial, param)
        sampled[param.name] = values[param.name] = value
    return sampled


def _suggest_one(trial: optuna.Trial, param: SearchParam) -> Any:
    if param.type == "categorical":
        return trial.suggest_categorical(param.name, param.choices)
    if param.type == "int":
        step = int(param.step or 1)
        return trial.suggest_int(param.name, int(param.low), int(param.high), step=step, log=param.log)
    return trial.suggest_float(param.name, param.low, param.high, step=param.step, log=param.log)


def grid_points(search: Sequence[SearchParam]) -> dict[str, list[Any]]:
    """The values the grid sampler visits for each field (see `SearchParam.grid_values`)."""
    return {param.name: param.grid_values() for param in search}


def grid_size(search: Sequence[SearchParam]) -> int:
    """Number of points of the full grid."""
    return math.prod(len(param.grid_values()) for param in search)
