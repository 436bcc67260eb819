"""The linear model: logistic (softmax) regression for classes, least squares for a regression target."""

from __future__ import annotations

import math

from torch import nn

from optflow.config import ModelConfig
from optflow.data import DataSpec


def build(config: ModelConfig, spec: DataSpec, dropout: float) -> nn.Sequential:
    """One linear layer from the flattened input to the outputs (dropout has no hidden layer to act on)."""
    flatten = [nn.Flatten()] if len(spec.input_shape) > 1 else []  # images: one row of pixels
    return nn.Sequential(*flatten, nn.Linear(math.prod(spec.input_shape), spec.n_outputs))
