"""A user's own model and data, as optflow finds them by import path (see config.yaml beside this file).

`build(params, spec)` makes the network from its arguments and the data's spec; `load(params)` gives the
splits. Neither knows optflow's trainer, Optuna or MLflow.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_moons
from torch import nn

import optflow


class ResidualBlock(nn.Module):
    """x + f(x): a block that keeps deep nets trainable."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def build(params: dict, spec: optflow.DataSpec) -> nn.Module:
    """A residual MLP: `width` units, `depth` blocks, `p_drop` dropout."""
    width, depth = int(params["width"]), int(params["depth"])
    return nn.Sequential(
        nn.Linear(spec.input_shape[0], width),
        *(ResidualBlock(width, float(params.get("p_drop", 0.0))) for _ in range(depth)),
        nn.Linear(width, spec.n_outputs),
    )


def load(params: dict) -> optflow.DataSplits:
    """Two interleaving half-moons with `noise`: `n_samples` points, a fifth held out."""
    x, y = make_moons(n_samples=int(params["n_samples"]), noise=float(params["noise"]), random_state=0)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    cut = len(x) * 4 // 5
    return optflow.DataSplits(train=(x[:cut], y[:cut]), val=(x[cut:], y[cut:]), task="classification", name="moons")
