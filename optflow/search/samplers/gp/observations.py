"""Which finished trials the GPs learn from, and with which values.

- COMPLETE trials with their values; PRUNED trials (one objective only: Optuna has no intermediate values
  for several) with their last reported value, a pessimistic but informative estimate: the pruner judged the
  region poor, and the GP should learn that.
- FAIL trials, e.g. a diverged learning rate, with the worst observed value of each objective, as SMAC and
  HEBO do for crashed configurations; so do NaN values. ±inf become the finite extremes.
- Trials lost to a dead worker are retried by the study instead, so they carry no such signal and are skipped.
- Constraint values (feasible at ≤ 0), by name, as `trial.set_constraint` or a `constraints_func` stored them;
  a failed trial has none: it is not a known-feasible point, and the constraint models do not see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState


@dataclass(frozen=True)
class Observations:
    """n trials' params (only those of the search space), values (n, M) and constraints (n, C), NaN unknown."""

    params: list[dict[str, Any]]
    values: np.ndarray
    constraints: np.ndarray
    failed: np.ndarray  # (n,) FAIL or NaN trials: a value, but no say in the space's shape or feasibility

    @property
    def feasible(self) -> np.ndarray:
        """(n,) whether a trial that did not fail meets every constraint it has a value for (Optuna's reading:
        a constraint a trial never set does not count against it)."""
        with np.errstate(invalid="ignore"):
            return np.all(np.isnan(self.constraints) | (self.constraints <= 0.0), axis=1) & ~self.failed

    def known(self, constraint: int) -> np.ndarray:
        """(n,) the trials that have a value for this constraint (what its GP learns from)."""
        return ~np.isnan(self.constraints[:, constraint])


def _value_of(trial: FrozenTrial, n_objectives: int, consider_pruned: bool) -> list[float] | None:
    """The trial's values, [nan] * M for a failed one, None if it says nothing."""
    if trial.state == TrialState.COMPLETE and trial.values is not None:
        return [float(v) for v in trial.values]
    if trial.state == TrialState.PRUNED and consider_pruned and n_objectives == 1 and trial.intermediate_values:
        return [float(trial.intermediate_values[max(trial.intermediate_values)])]
    if trial.state == TrialState.FAIL:
        return [float("nan")] * n_objectives
    return None


def gather(
    trials: Sequence[FrozenTrial],
    search_space: dict[str, BaseDistribution],
    directions: Sequence[StudyDirection],
    consider_pruned: bool,
) -> Observations | None:
    """The observations the GPs learn from, or None when no trial has a finite value yet."""
    rows: list[tuple[dict[str, Any], list[float], dict[str, float]]] = []
    for trial in trials:
        params = {name: value for name, value in trial.params.items() if name in search_space}
        values = _value_of(trial, len(directions), consider_pruned) if params else None
        if values is not None:
            rows.append((params, values, trial.constraints))
    if not rows:
        return None
    values = np.array([v for _, v, _ in rows])
    names = sorted({name for _, _, c in rows for name in c})
    constraints = np.array([[c.get(name, np.nan) for name in names] for _, _, c in rows], dtype=float)
    constraints = constraints.reshape(len(rows), len(names))
    failed = np.isnan(values).any(axis=1)
    for j, direction in enumerate(directions):
        column = values[:, j]
        finite = column[np.isfinite(column)]
        if len(finite) == 0:
            return None
        low, high = finite.min(), finite.max()
        worst = high if direction == StudyDirection.MINIMIZE else low
        values[:, j] = np.where(np.isnan(column), worst, np.clip(column, low, high))
    return Observations([p for p, _, _ in rows], values, constraints, failed)
