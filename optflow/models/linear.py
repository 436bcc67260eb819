"""The linear model: logistic (softmax) regression for classes, least squares for a regression target."""

from __future__ import annotations

from torch import nn

from optflow.config import ModelConfig
from optflow.data import DataSpec


def build(config: ModelConfig, spec: DataSpec, dropout: float) -> nn.Sequential:
    """One linear layer from the flattened input to the outputs (dropout has no hidden layer to act on)."""
    return nn.Sequential(nn.Linear(spec.input_shape[-1], spec.n_outputs))
