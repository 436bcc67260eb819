"""Model families by name (`model.kind`), or the user's own by factory (`model.factory`): a fresh network for a
trial's config and the data's spec."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from optflow.config import Config, ModelConfig
from optflow.data import DataSpec
from optflow.errors import UsageError
from optflow.models import cnn, linear, mlp, transformer

ModelBuilder = Callable[[ModelConfig, DataSpec, float], nn.Module]

# Each kind, and the config fields it reads, is declared in optflow/config/choices.py.
MODELS: dict[str, ModelBuilder] = {
    "linear": linear.build,
    "mlp": mlp.build,
    "cnn": cnn.build,
    "transformer": transformer.build,
}


def build_model(config: Config, spec: DataSpec) -> nn.Module:
    """A freshly initialised model of `config.model.kind` with the training's dropout, seeded by
    `config.training.seed` so that a trial is reproducible."""
    torch.manual_seed(config.training.seed)
    if not config.model.factory:
        return MODELS[config.model.kind](config.model, spec, config.training.dropout)
    from optflow.config.references import resolve

    model = resolve("model.factory", config.model.factory, ("params", "spec"))(dict(config.model.params), spec)
    if not isinstance(model, nn.Module):
        raise UsageError(f"model.factory must return a torch.nn.Module; got a {type(model).__name__}")
    return model
