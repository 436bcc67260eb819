"""Optimisers and learning-rate schedules, each chosen by name from a registry.

A schedule is a pure function of the epoch, so its formula can be tested directly and the same numbers
are logged as the `lr` metric. References: exponential and step decay as in `torch.optim.lr_scheduler`
(ExponentialLR, StepLR); inverse-time decay lr0/(1+k·t) (Bottou 2012, "Stochastic Gradient Descent Tricks");
cosine annealing without restarts (Loshchilov & Hutter 2017, SGDR, eq. 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from optflow.config import TrainingConfig
from optflow.models import weight_parameters

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


def _param_groups(model: nn.Module, l2: float) -> list[dict]:
    """Weights get the L2 penalty as weight decay, biases none: d/dw (λ/2)·w² = λ·w."""
    if l2 == 0:
        return [{"params": list(model.parameters())}]  # one group: each step loops over fewer groups
    weights = {id(p) for p in weight_parameters(model)}
    return [
        {"params": [p for p in model.parameters() if id(p) in weights], "weight_decay": l2},
        {"params": [p for p in model.parameters() if id(p) not in weights], "weight_decay": 0.0},
    ]


OPTIMIZERS: dict[str, Callable[[list[dict], TrainingConfig], torch.optim.Optimizer]] = {
    # gd and sgd take the same update; gd differs in the batch: the whole training set (see `full_batch`).
    "gd": lambda groups, c: torch.optim.SGD(groups, lr=c.lr),
    "sgd": lambda groups, c: torch.optim.SGD(groups, lr=c.lr),
    "momentum": lambda groups, c: torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum),
    "adam": lambda groups, c: torch.optim.Adam(groups, lr=c.lr),
}


def make_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """The configured optimiser over the model's parameters, with L2 on the weights."""
    return OPTIMIZERS[config.optimizer](_param_groups(model, config.l2), config)


def full_batch(config: TrainingConfig) -> bool:
    """Whether each epoch is one step over the whole training set (gradient descent proper)."""
    return config.optimizer == "gd" or config.batch_size == "full"
