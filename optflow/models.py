"""Linear (logistic) and MLP models, built from the model config and the trial's dropout."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from optflow.config import ModelConfig

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


def build_model(config: ModelConfig, n_features: int, n_outputs: int, dropout: float = 0.0) -> nn.Sequential:
    """A `linear` model (logistic regression for classes) or an MLP with dropout after each hidden layer."""
    if config.kind == "linear":
        return nn.Sequential(nn.Linear(n_features, n_outputs))
    layers: list[nn.Module] = []
    width = n_features
    for hidden in config.hidden:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[config.activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices, the parameters regularisation applies to (biases are left free, as usual)."""
    return [p for name, p in model.named_parameters() if name.endswith("weight")]
