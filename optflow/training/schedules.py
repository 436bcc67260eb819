"""Learning-rate schedules by name, each a pure function of the epoch (or of the optimiser step), with linear
warmup in front and the batch-size scaling rule applied to the initial rate.

Being pure, a schedule's formula is tested directly, and the same numbers are logged as the `lr` metric.
References: exponential and step decay as in `torch.optim.lr_scheduler` (ExponentialLR, StepLR); inverse-time
decay lr0/(1+k·t) (Bottou 2012, "Stochastic Gradient Descent Tricks"); cosine annealing without restarts
(Loshchilov & Hutter 2017, SGDR, eq. 5); linear warmup (Goyal et al. 2017, "Accurate, Large Minibatch SGD", which
also gives the linear scaling rule; the square-root rule is Krizhevsky 2014's).
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


# Each name, and the config fields it reads, is declared in optflow/config/choices.py.
# name -> (initial rate, config, horizon: epochs or steps in the run) -> schedule
SCHEDULES: dict[str, Callable[[float, TrainingConfig, int], Schedule]] = {
    "constant": lambda lr0, c, horizon: constant(lr0),
    "exponential": lambda lr0, c, horizon: exponential(lr0, c.gamma),
    "step": lambda lr0, c, horizon: step(lr0, c.gamma, c.step_size),
    "inverse_time": lambda lr0, c, horizon: inverse_time(lr0, c.decay_rate),
    "cosine": lambda lr0, c, horizon: cosine(lr0, c.min_lr, horizon),
}


def scaled_lr(config: TrainingConfig, rows_per_step: int) -> float:
    """`lr` under the batch-size scaling rule: linear lr·B/B0 or sqrt lr·sqrt(B/B0), B the rows per step."""
    ratio = rows_per_step / config.base_batch_size
    return config.lr * {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[config.lr_scaling]


def warmup_steps(config: TrainingConfig, total_steps: int) -> int:
    """`warmup_steps`, or `warmup_ratio` of the run's optimiser steps (rounded up), as Hugging Face takes them."""
    return config.warmup_steps or math.ceil(config.warmup_ratio * total_steps)


def step_rates(config: TrainingConfig, steps_per_epoch: int, rows_per_step: int) -> Schedule:
    """Optimiser step s (0-based, over the whole run) -> its learning rate: the schedule at s's epoch (or at s,
    with `schedule_interval: step`), times the warmup factor min(1, (s+1)/W)."""
    lr0, total = scaled_lr(config, rows_per_step), steps_per_epoch * config.epochs
    per_step = config.schedule_interval == "step"
    schedule = SCHEDULES[config.schedule](lr0, config, total if per_step else config.epochs)
    warm = warmup_steps(config, total)

    def rate(s: int) -> float:
        lr = schedule(s if per_step else s // steps_per_epoch)
        return lr * (s + 1) / warm if s < warm else lr

    return rate
