"""Learning-rate schedules by name, each a pure function of the epoch.

Being pure, a schedule's formula is tested directly, and the same numbers are logged as the `lr` metric.
References: exponential and step decay as in `torch.optim.lr_scheduler` (ExponentialLR, StepLR); inverse-time
decay lr0/(1+k·t) (Bottou 2012, "Stochastic Gradient Descent Tricks"); cosine annealing without restarts
(Loshchilov & Hutter 2017, SGDR, eq. 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from optflow.config import TrainingConfig

Schedule = Callable[[int], float]


def constant(lr0: float) -> Schedule:
    """lr_t = lr0."""
    return lambda epoch: lr0


def exponential(lr0: float, gamma: float) -> Schedule:
    """lr_t = lr0 · γ^t."""
    return lambda epoch: lr0 * gamma**epoch


def step(lr0: float, gamma: float, step_size: int) -> Schedule:
    """lr_t = lr0 · γ^floor(t / step_size)."""
    return lambda epoch: lr0 * gamma ** (epoch // step_size)


def inverse_time(lr0: float, k: float) -> Schedule:
    """lr_t = lr0 / (1 + k·t)."""
    return lambda epoch: lr0 / (1.0 + k * epoch)


def cosine(lr0: float, min_lr: float, epochs: int) -> Schedule:
    """lr_t = min_lr + (lr0 − min_lr) · (1 + cos(π·t/T)) / 2, with T the number of epochs."""
    return lambda epoch: min_lr + (lr0 - min_lr) * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


SCHEDULES: dict[str, Callable[[TrainingConfig], Schedule]] = {
    "constant": lambda c: constant(c.lr),
    "exponential": lambda c: exponential(c.lr, c.gamma),
    "step": lambda c: step(c.lr, c.gamma, c.step_size),
    "inverse_time": lambda c: inverse_time(c.lr, c.decay_rate),
    "cosine": lambda c: cosine(c.lr, c.min_lr, c.epochs),
}


def make_schedule(config: TrainingConfig) -> Schedule:
    """The configured schedule as a function epoch -> learning rate."""
    return SCHEDULES[config.schedule](config)
