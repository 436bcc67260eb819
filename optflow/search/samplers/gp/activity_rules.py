"""Which param switches a group of conditional params on: rules learned from the trials so far.

A rule says "group g is active exactly when its parent p is active and takes one of these values". For each
group the parent is the discrete or categorical param that was active whenever the group was and whose value
alone told, in every trial so far, whether the group was used (a layer count for per-layer widths, an optimiser
choice for its own params). Of several such params, the one that can take the fewest values wins (a layer
count of 1-4 rather than a width of 16-512 that happened to take a new value in every trial), then the nearest
ancestor (active in the fewest trials). A parent's value not seen yet counts as the nearest seen one for
numbers (active on a tie) and as inactive for categories. A group no single param explains has no rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optflow.search.samplers.gp.search_space import CATEGORICAL, CONTINUOUS, Dimension, SearchSpace


@dataclass(frozen=True)
class Rule:
    """Group active ⇔ parent active and the parent's (encoded) value is one of `values` with `active`."""

    parent: int  # the parent's column in the union space
    categorical: bool
    values: np.ndarray  # encoded values seen (category indices or unit-cube coordinates)
    active: np.ndarray  # bool, the group's activity at each of them

    def __call__(self, parent_values: np.ndarray) -> np.ndarray:
        """The group's activity for parent values (m,), assuming the parent is active."""
        distance = np.abs(parent_values[:, None] - self.values[None, :])
        closest = distance.min(axis=1)
        if self.categorical:  # an unseen category says nothing: treat the group as unused
            return self.active[np.argmin(distance, axis=1)] & (closest < 0.5)
        # A number between two seen values with different answers counts as active: the objective decides.
        return np.any((distance <= closest[:, None] + 1e-12) & self.active[None, :], axis=1)


def _n_values(dimension: Dimension) -> float:
    """How many values a discrete or categorical param can take."""
    if dimension.kind == CATEGORICAL:
        return dimension.n_choices
    distribution = dimension.distribution
    step = float(getattr(distribution, "step", None) or 1.0)
    return math.floor((float(distribution.high) - float(distribution.low)) / step) + 1


def infer_rule(space: SearchSpace, members: list[int], activity: np.ndarray, points: np.ndarray) -> Rule | None:
    """The rule of the group whose columns are `members`: the single param whose value told, in every observed
    trial, whether the group was used; None if there is none. `activity` and `points` are the observed trials'
    activity (n, d) and encoded values (n, d) in `space`."""
    pattern = activity[:, members[0]]
    candidates = []
    for parent, dimension in enumerate(space.dimensions):
        if dimension.kind == CONTINUOUS or parent in members:
            continue
        parent_active = activity[:, parent]
        if not parent_active[pattern].all() or np.array_equal(parent_active, pattern):
            continue
        values, inverse = np.unique(points[parent_active, parent], return_inverse=True)
        statuses = pattern[parent_active]
        on = np.zeros(len(values), dtype=bool)
        off = np.zeros(len(values), dtype=bool)
        np.logical_or.at(on, inverse, statuses)
        np.logical_or.at(off, inverse, ~statuses)
        if np.any(on & off):
            continue  # a value both used and left the group out: not its parent
        candidates.append((_n_values(dimension), int(parent_active.sum()), parent, values, on))
    if not candidates:
        return None
    *_, parent, values, on = min(candidates, key=lambda c: c[:3])
    return Rule(parent, space.dimensions[parent].kind == CATEGORICAL, values, on)
