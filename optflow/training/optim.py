"""Optimisers by name, with L2 as weight decay on the weights only (biases are left free, as usual), and AdamW's
decoupled decay on weight matrices only."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from optflow.config import TrainingConfig


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices, the parameters L1 and L2 apply to."""
    return [p for name, p in model.named_parameters() if name.endswith("weight")]


def _param_groups(model: nn.Module, l2: float) -> list[dict]:
    """Weights get the L2 penalty as weight decay, biases none: d/dw (λ/2)·w² = λ·w."""
    if l2 == 0:
        return [{"params": list(model.parameters())}]  # one group: each step loops over fewer groups
    weights = {id(p) for p in weight_parameters(model)}
    return [
        {"params": [p for p in model.parameters() if id(p) in weights], "weight_decay": l2},
        {"params": [p for p in model.parameters() if id(p) not in weights], "weight_decay": 0.0},
    ]


def decayed_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters AdamW decays: matrices and kernels (2-D and up), not biases or normalisation weights, as
    Hugging Face's Trainer and nanoGPT group them (Loshchilov & Hutter 2019 decay the weights of the layers)."""
    return [p for p in model.parameters() if p.dim() >= 2]


def _decoupled_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decayed = {id(p) for p in decayed_parameters(model)}
    return [
        {"params": [p for p in model.parameters() if id(p) in decayed], "weight_decay": weight_decay},
        {"params": [p for p in model.parameters() if id(p) not in decayed], "weight_decay": 0.0},
    ]


# Each name, and the config fields it reads, is declared in optflow/config/choices.py (the config validates it there).
OPTIMIZERS: dict[str, Callable[[list[dict], TrainingConfig], torch.optim.Optimizer]] = {
    # gd and sgd take the same update; gd differs in the batch: the whole training set (see `full_batch`).
    "gd": lambda groups, c: torch.optim.SGD(groups, lr=c.lr),
    "sgd": lambda groups, c: torch.optim.SGD(groups, lr=c.lr),
    "momentum": lambda groups, c: torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum),
    "nesterov": lambda groups, c: torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=True),
    "adam": lambda groups, c: torch.optim.Adam(groups, lr=c.lr),
    "adamw": lambda groups, c: torch.optim.AdamW(groups, lr=c.lr),  # the groups carry the decay
}


def make_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """The configured optimiser over the model's parameters: L2 on the weights, or AdamW's decoupled decay."""
    if config.optimizer == "adamw":
        return OPTIMIZERS["adamw"](_decoupled_groups(model, config.weight_decay), config)
    return OPTIMIZERS[config.optimizer](_param_groups(model, config.l2), config)


def full_batch(config: TrainingConfig) -> bool:
    """Whether each epoch is one step over the whole training set (gradient descent proper)."""
    return config.optimizer == "gd" or config.batch_size == "full"


def halved_batch(config: TrainingConfig, rows: int) -> int | None:
    """Half the batch a trial used, to retry it after CUDA ran out of memory; None when there is nothing to
    halve (one row) or halving would change the method (gradient descent takes the whole set)."""
    if config.optimizer == "gd":
        return None
    batch = rows if config.batch_size == "full" else min(int(config.batch_size), rows)
    return batch // 2 if batch > 1 else None
