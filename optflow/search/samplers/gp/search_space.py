"""Optuna params <-> points of the unit cube, the space the GP models.

Floats map linearly (log-scaled first when `log=True`, the usual input warping for learning rates and
penalties). Integers and stepped floats map to a padded interval [low − step/2, high + step/2] so each value
owns an equal slice of [0, 1]; decoding rounds to the nearest step. A categorical param is one dimension
holding the category's index; the kernel compares such dimensions by equality (Hamming distance), so the
index order carries no meaning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

CONTINUOUS, DISCRETE, CATEGORICAL = 0, 1, 2


@dataclass(frozen=True)
class Dimension:
    """One param's place in the unit cube."""

    name: str
    distribution: BaseDistribution
    kind: int  # CONTINUOUS, DISCRETE or CATEGORICAL
    low: float  # bounds in the warped (log if log) scale, padded for discrete params
    high: float
    step: float | None  # discrete spacing in the warped scale
    n_choices: int = 0


def _dimension(name: str, distribution: BaseDistribution) -> Dimension:
    if isinstance(distribution, CategoricalDistribution):
        return Dimension(name, distribution, CATEGORICAL, 0.0, 1.0, None, len(distribution.choices))
    assert isinstance(distribution, FloatDistribution | IntDistribution)
    low, high = float(distribution.low), float(distribution.high)
    if distribution.log:
        if isinstance(distribution, IntDistribution):  # log ints: pad by half a unit before the log
            return Dimension(name, distribution, DISCRETE, math.log(low - 0.5), math.log(high + 0.5), None)
        return Dimension(name, distribution, CONTINUOUS, math.log(low), math.log(high), None)
    step = distribution.step
    if step is None:
        return Dimension(name, distribution, CONTINUOUS, low, high, None)
    step = float(step)
    return Dimension(name, distribution, DISCRETE, low - step / 2, high + step / 2, step)


def _encode_value(d: Dimension, value: Any) -> float:
    if d.kind == CATEGORICAL:
        return float(d.distribution.to_internal_repr(value))
    warped = math.log(value) if d.distribution.log else float(value)
    return (warped - d.low) / (d.high - d.low)


class SearchSpace:
    """The ordered dimensions of a relative search space."""

    def __init__(self, distributions: Mapping[str, BaseDistribution]) -> None:
        self.dimensions = [_dimension(name, d) for name, d in sorted(distributions.items())]
        self.is_categorical = np.array([d.kind == CATEGORICAL for d in self.dimensions], dtype=bool)
        self.is_discrete = np.array([d.kind == DISCRETE for d in self.dimensions], dtype=bool)
        self.is_continuous = ~(self.is_categorical | self.is_discrete)

    @property
    def dim(self) -> int:
        return len(self.dimensions)

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """External param values -> a point of the unit cube, shape (dim,)."""
        return np.array([_encode_value(d, params[d.name]) for d in self.dimensions])

    def encode_partial(self, params: Mapping[str, Any]) -> np.ndarray:
        """Like `encode`, with NaN for the params `params` does not have (inactive in a conditional space)."""
        return np.array([_encode_value(d, params[d.name]) if d.name in params else np.nan for d in self.dimensions])

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Points moved onto values a param can take (discrete steps, category indices), shape kept."""
        out = points.copy()
        out[..., ~self.is_categorical] = np.clip(points[..., ~self.is_categorical], 0.0, 1.0)
        points = out.copy()
        for i, d in enumerate(self.dimensions):
            if d.kind == CATEGORICAL:  # category indices, 0 .. n_choices − 1
                out[..., i] = np.clip(np.round(points[..., i]), 0, d.n_choices - 1)
            elif d.kind == DISCRETE:
                values = self._discrete_values(d, points[..., i])
                out[..., i] = (self._warp(d, values) - d.low) / (d.high - d.low)
        return out

    def decode(self, point: np.ndarray) -> dict[str, Any]:
        """A point of the unit cube -> external param values as plain Python ints, floats or choices."""
        params: dict[str, Any] = {}
        for i, d in enumerate(self.dimensions):
            if d.kind == CATEGORICAL:
                index = int(min(max(round(float(point[i])), 0), d.n_choices - 1))
                params[d.name] = d.distribution.to_external_repr(index)
                continue
            x = float(np.clip(point[i], 0.0, 1.0))
            if d.kind == DISCRETE:
                params[d.name] = self._discrete_values(d, np.array(x)).item()
                params[d.name] = (
                    int(params[d.name]) if isinstance(d.distribution, IntDistribution) else float(params[d.name])
                )
            else:
                warped = d.low + x * (d.high - d.low)
                value = math.exp(warped) if d.distribution.log else warped
                params[d.name] = float(min(max(value, d.distribution.low), d.distribution.high))
        return params

    @staticmethod
    def _warp(d: Dimension, values: np.ndarray) -> np.ndarray:
        return np.log(values) if d.distribution.log else values

    @staticmethod
    def _discrete_values(d: Dimension, x: np.ndarray) -> np.ndarray:
        """Nearest allowed external values for unit-cube coordinates x of a discrete dimension."""
        dist = d.distribution
        warped = d.low + x * (d.high - d.low)
        raw = np.exp(warped) if dist.log else warped
        step = float(dist.step) if getattr(dist, "step", None) is not None and not dist.log else 1.0
        values = dist.low + np.round((raw - dist.low) / step) * step
        return np.clip(values, dist.low, dist.high)

    def neighbours(self, point: np.ndarray, i: int) -> list[np.ndarray]:
        """The other values of discrete or categorical dimension i around `point` (for local search)."""
        d = self.dimensions[i]
        out = []
        if d.kind == CATEGORICAL:
            for index in range(d.n_choices):
                if index != round(point[i]):
                    candidate = point.copy()
                    candidate[i] = index
                    out.append(candidate)
            return out
        current = self._discrete_values(d, np.array(point[i])).item()
        step = float(d.distribution.step) if d.step is not None else 1.0
        for value in (current - step, current + step):
            if d.distribution.low <= value <= d.distribution.high:
                candidate = point.copy()
                candidate[i] = (self._warp(d, np.array(value)).item() - d.low) / (d.high - d.low)
                out.append(candidate)
        return out
