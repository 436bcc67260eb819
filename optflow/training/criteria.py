"""What training minimises and what validation measures: the task's own loss, or the user's loss and extra
metrics named in the config (`training.loss`, `study.metrics`), each a function of (output, target)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from optflow.config.references import resolve
from optflow.data import CLASSIFICATION, LANGUAGE_MODELING

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_function(task: str, reference: str = "") -> Criterion:
    """The user's loss when the config names one, else the task's: cross-entropy for classes and next tokens,
    mean squared error of the standardised target for regression."""
    if reference:
        return resolve("training.loss", reference, ("output", "target"))
    if task == CLASSIFICATION:
        return F.cross_entropy
    if task == LANGUAGE_MODELING:  # (batch, length, vocabulary) logits against (batch, length) next tokens
        return _next_token_loss
    return _mse


def metric_functions(extra_metrics: Mapping[str, str]) -> dict[str, Criterion]:
    """Metric name -> the user's function (`study.extra_metrics`), resolved in this process."""
    return {name: resolve("study.metrics", ref, ("output", "target")) for name, ref in extra_metrics.items()}


def _next_token_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output.flatten(0, 1), target.flatten())


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(output.squeeze(-1), target)
