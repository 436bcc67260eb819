"""Conditional search spaces: the union of every param the study has used, with activity inferred from history.

A define-by-run objective asks for some params only under others (`momentum` only when `optimizer` is
`momentum`, the width of layer 3 only when there are 3 layers). Optuna's GPSampler models only the params
every trial used and draws the rest at random; here every trial is a point of the union space, where a
param the trial did not use is *inactive*.

The model: imputation with activity indicators. An inactive param takes a fixed value (the cube's middle for
numbers, the non-category −1 for categoricals) and every *activity group* (params that were always used
together) gets an extra 0/1 dimension saying whether it was used, compared by the kernel like a categorical.
Two trials that both left a param out are thus equal along it, and the indicator's lengthscale learns how
much using the group at all changes the objective. Lévesque, Durand, Gagné & Sabourin (2017), "Bayesian
Optimization for Conditional Hyperparameter Spaces" (IJCNN), show that imputing a fixed value for inactive
params makes the kernel compare two configurations on the params they share plus a learned offset, the
effect that Swersky et al. (2014), "Raiders of the Lost Architecture: Kernels for Bayesian Optimization in
Conditional Parameter Spaces", obtain with their arc kernel at the cost of two more hyperparameters per
param; the indicator is the "activity" input of Jenatton et al. (2017) for tree-structured spaces, reduced
to one per group. It keeps the kernel, its gradients and its costs as they are.

Proposals name a full active configuration: a candidate is a *raw* point holding a value for every param,
and rules learned from history (`activity_rules.py`) decide which of them the objective will use. A group no
rule explains gets a free 0/1 dimension instead, which the acquisition chooses like any other param. The
acquisition sees the raw point through the rules (`ThroughRules`), so its gradient along a param is zero where
the param is inactive, and changing a parent in the local search switches its children on or off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution

from optflow.search.samplers.gp.acqf import Acquisition
from optflow.search.samplers.gp.activity_rules import infer_rule
from optflow.search.samplers.gp.search_space import SearchSpace

IMPUTED_NUMBER = 0.5  # an inactive float or int: the middle of the unit cube
IMPUTED_CATEGORY = -1.0  # an inactive categorical: differs from every category index by at least 1
FREE_PREFIX = "optflow_gp:active:"  # raw dimensions choosing the activity of groups no rule explains


def union_search_space(trials: Sequence[Any]) -> dict[str, BaseDistribution]:
    """Every param of the given trials with one distribution; a name seen with two is left out (it goes to the
    independent sampler, as Optuna's intersection does), as are params fixed to one value."""
    union: dict[str, BaseDistribution] = {}
    conflicting: set[str] = set()
    for trial in trials:
        for name, distribution in trial.distributions.items():
            if name in union and union[name] != distribution:
                conflicting.add(name)
            union.setdefault(name, distribution)
    return {name: d for name, d in union.items() if name not in conflicting and not d.single()}


class ConditionalSpace:
    """The union space of the observed trials, its activity groups and the rules that switch them.

    Two encodings: *raw* points (the acquisition's domain: a value for every param plus the free activity
    dimensions, `self.raw`) and *model* inputs (what the GP sees: imputed values, then one indicator per
    group). Without conditional params both are the plain unit-cube encoding.
    """

    def __init__(self, distributions: Mapping[str, BaseDistribution], observed: Sequence[Mapping[str, Any]]) -> None:
        used = {name for params in observed for name in params}
        self.union = SearchSpace({name: d for name, d in distributions.items() if name in used})
        names = [d.name for d in self.union.dimensions]
        observed_points, activity = self._encode_union(observed)
        patterns: dict[bytes, list[int]] = {}
        for column in np.flatnonzero(~activity.all(axis=0)):
            patterns.setdefault(activity[:, column].tobytes(), []).append(int(column))
        # Parents are switched before their children: a parent is active in strictly more trials.
        self.groups = sorted(patterns.values(), key=lambda members: (-activity[:, members[0]].sum(), members[0]))
        self.group_names = [f"active({','.join(names[j] for j in members)})" for members in self.groups]
        self.rules = [infer_rule(self.union, members, activity, observed_points) for members in self.groups]
        free = {FREE_PREFIX + self.group_names[k]: CategoricalDistribution((0, 1)) for k in self._free_groups()}
        self.raw = SearchSpace({**{d.name: d.distribution for d in self.union.dimensions}, **free})
        raw_names = [d.name for d in self.raw.dimensions]
        self.union_columns = np.array([raw_names.index(name) for name in names], dtype=int)
        self.free_columns = {k: raw_names.index(FREE_PREFIX + self.group_names[k]) for k in self._free_groups()}
        self.is_categorical = np.concatenate([self.union.is_categorical, np.ones(len(self.groups), dtype=bool)])
        self.names = names + self.group_names  # the model's input columns
        in_groups = {names[j] for members in self.groups for j in members}
        self.root_names = {name for name in names if name not in in_groups}  # params every trial used

    @property
    def dim(self) -> int:
        """Width of the model's input."""
        return len(self.names)

    @property
    def conditional(self) -> bool:
        return bool(self.groups)

    # Encodings -------------------------------------------------------------------------------------------

    def encode_observed(self, observed: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Model inputs (n, dim) of trials' params, a param being active where the trial has it."""
        return self._model_input(*self._encode_union(observed))

    def encode_raw(self, observed: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Raw points (n, raw dim) of trials' params: inactive params at their imputed value (a category index
        of 0), free dimensions as the trial used its group."""
        return self._to_raw(*self._encode_union(observed))

    def activity(self, raw: np.ndarray) -> np.ndarray:
        """Which params of the union each raw point (m, raw dim) activates, by the rules: (m, union dim)."""
        union = raw[:, self.union_columns]
        active = np.ones(union.shape, dtype=bool)
        for k, members in enumerate(self.groups):
            rule = self.rules[k]
            if rule is None:
                group_active = raw[:, self.free_columns[k]] > 0.5
            else:
                group_active = active[:, rule.parent] & rule(union[:, rule.parent])
            active[:, members] = group_active[:, None]
        return active

    def embed(self, raw: np.ndarray) -> np.ndarray:
        """Model inputs (m, dim) of raw points (m, raw dim)."""
        if not self.conditional:
            return raw
        return self._model_input(raw[:, self.union_columns], self.activity(raw))

    def decode(self, raw_point: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every param's value of a raw point, and the active ones (the configuration the rules expect)."""
        params = {name: value for name, value in self.raw.decode(raw_point).items() if not name.startswith(FREE_PREFIX)}
        active = self.activity(raw_point[None, :])[0]
        return params, {d.name: params[d.name] for d, on in zip(self.union.dimensions, active, strict=True) if on}

    def raw_scales(self, model_scales: np.ndarray) -> np.ndarray:
        """The model's lengthscales (dim,) placed on the raw columns (1 for the free dimensions)."""
        scales = np.ones(self.raw.dim)
        scales[self.union_columns] = model_scales[: self.union.dim]
        return scales

    # Internals -------------------------------------------------------------------------------------------

    def _free_groups(self) -> list[int]:
        """Groups no rule explains: their activity is a dimension of the raw space."""
        return [k for k, rule in enumerate(self.rules) if rule is None]

    def _encode_union(self, observed: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Union-space coordinates of trials' params (0 where a param is inactive) and the activity mask."""
        points = np.array([self.union.encode_partial(params) for params in observed])
        points = points.reshape(len(observed), self.union.dim)
        activity = ~np.isnan(points)
        return np.nan_to_num(points, nan=0.0), activity

    def _model_input(self, union: np.ndarray, activity: np.ndarray) -> np.ndarray:
        imputed = np.where(self.union.is_categorical, IMPUTED_CATEGORY, IMPUTED_NUMBER)
        values = np.where(activity, union, imputed[None, :])
        if not self.groups:
            return values
        indicators = np.stack([activity[:, members[0]] for members in self.groups], axis=1).astype(float)
        return np.hstack([values, indicators])

    def _to_raw(self, union: np.ndarray, activity: np.ndarray) -> np.ndarray:
        raw = np.zeros((len(union), self.raw.dim))
        raw[:, self.union_columns] = np.where(activity, union, np.where(self.union.is_categorical, 0.0, IMPUTED_NUMBER))
        for k, column in self.free_columns.items():
            raw[:, column] = activity[:, self.groups[k][0]]
        return raw


class ThroughRules:
    """An acquisition over model inputs, seen from raw points through the rules (what `optim.maximize` needs):
    the gradient along an inactive param is zero, since moving it changes nothing the model sees."""

    def __init__(self, acquisition: Acquisition, space: ConditionalSpace) -> None:
        self.acquisition, self.space = acquisition, space
        self._model_continuous = ~space.is_categorical & ~np.concatenate(
            [space.union.is_discrete, np.zeros(len(space.groups), dtype=bool)]
        )

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return self.acquisition(self.space.embed(raw))

    def with_gradient(self, raw: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (m,) and gradients (m, c) along the raw continuous dimensions (the union's, in order)."""
        values, gradients = self.acquisition.with_gradient(self.space.embed(raw), self._model_continuous)
        active = self.space.activity(raw)[:, self.space.union.is_continuous]
        return values, gradients * active
