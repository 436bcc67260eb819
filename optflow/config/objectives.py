"""Several objectives and constraints: `study.objectives` entries (`n_params`, `val_f1:maximize`) and
`study.constraints` entries (`n_params <= 20000`), parsed once by the config's rules.

What a trial can be judged on beyond its epoch metrics: `train_seconds` (its wall time training) and
`n_params` (its model's trainable parameters). Epoch metrics are read at the epoch where `study.metric` was
best, the epoch whose weights early stopping keeps, so that every objective describes one model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from optflow.contract import METRICS_MAXIMIZED

TRIAL_MEASURES = ("train_seconds", "n_params")  # judged on the whole trial, not on an epoch
DIRECTIONS = ("minimize", "maximize")
_NAME = r"[A-Za-z_][A-Za-z0-9_./]*"
_CONSTRAINT = re.compile(rf"^\s*({_NAME})\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class MetricGoal:
    """One objective of a study: what a trial reports (`name`) and which way is better."""

    name: str
    direction: str  # minimize, maximize, or auto (maximize for accuracy, minimize otherwise)

    def resolved(self) -> str:
        if self.direction != "auto":
            return self.direction
        return "maximize" if self.name in METRICS_MAXIMIZED else "minimize"


@dataclass(frozen=True)
class Constraint:
    """`name <= bound` or `name >= bound`; Optuna's convention is a value ≤ 0 when it holds."""

    name: str
    operator: str
    bound: float

    def violation(self, value: float) -> float:
        return value - self.bound if self.operator == "<=" else self.bound - value

    def __str__(self) -> str:
        return f"{self.name} {self.operator} {self.bound:g}"


def parse_goal(text: str) -> MetricGoal:
    """`name` or `name:minimize` / `name:maximize`; ValueError otherwise."""
    if not isinstance(text, str):
        raise TypeError
    name, _, direction = text.partition(":")
    if not re.fullmatch(_NAME, name) or direction not in ("", *DIRECTIONS):
        raise ValueError
    return MetricGoal(name, direction or "auto")


def parse_constraint(text: str) -> Constraint:
    """`name <= number` or `name >= number`; ValueError otherwise."""
    if not isinstance(text, str):
        raise TypeError
    match = _CONSTRAINT.match(text)
    if not match:
        raise ValueError
    return Constraint(match.group(1), match.group(2), float(match.group(3)))
