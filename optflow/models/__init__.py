"""Model families by name (`model.kind`): each builder takes the model config, the data's spec and the dropout."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from optflow.config import Config, ModelConfig
from optflow.data import DataSpec
from optflow.models import linear, mlp

ModelBuilder = Callable[[ModelConfig, DataSpec, float], nn.Module]

MODELS: dict[str, ModelBuilder] = {
    "linear": linear.build,
    "mlp": mlp.build,
}


def build_model(config: Config, spec: DataSpec) -> nn.Module:
    """A freshly initialised model of `config.model.kind` with the training's dropout, seeded by
    `config.training.seed` so that a trial is reproducible."""
    torch.manual_seed(config.training.seed)
    return MODELS[config.model.kind](config.model, spec, config.training.dropout)
