"""The multilayer perceptron: hidden layers with an activation each, dropout after each hidden layer."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from optflow.config import ModelConfig
from optflow.data import DataSpec

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


def build(config: ModelConfig, spec: DataSpec, dropout: float) -> nn.Sequential:
    """Linear -> activation (-> dropout) per entry of `config.hidden`, then a linear output layer."""
    layers: list[nn.Module] = [nn.Flatten()] if len(spec.input_shape) > 1 else []  # images: one row of pixels
    width = math.prod(spec.input_shape)
    for hidden in config.hidden:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[config.activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    layers.append(nn.Linear(width, spec.n_outputs))
    return nn.Sequential(*layers)
