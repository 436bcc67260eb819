"""What a trained model outputs, for tests that check it by hand (optflow itself never needs it)."""

from __future__ import annotations

import torch
from torch import nn


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Model outputs in eval mode (logits for classes, standardised values for regression)."""
    model.eval()
    with torch.no_grad():
        return model(x)
