"""What training minimises and what validation measures: the task's own loss, or the user's loss and extra
metrics named in the config (`training.loss`, `study.metrics`), each a function of (output, target)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import torch
import torch.nn.functional as F

from optflow.config.references import resolve
from optflow.data import CLASSIFICATION, LANGUAGE_MODELING

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_function(task: str, reference: str = "", label_smoothing: float = 0.0) -> Criterion:
    """The user's loss when the config names one, else the task's: cross-entropy for classes and next tokens
    (with `label_smoothing`, for training), mean squared error of the standardised target for regression."""
    if reference:
        return resolve("training.loss", reference, ("output", "target"))
    if task == CLASSIFICATION:
        return partial(F.cross_entropy, label_smoothing=label_smoothing) if label_smoothing else F.cross_entropy
    if task == LANGUAGE_MODELING:  # (batch, length, vocabulary) logits against (batch, length) next tokens
        return partial(_next_token_loss, label_smoothing=label_smoothing)
    return _mse


def metric_functions(extra_metrics: Mapping[str, str]) -> dict[str, Criterion]:
    """Metric name -> the user's function (`study.extra_metrics`), resolved in this process."""
    return {name: resolve("study.metrics", ref, ("output", "target")) for name, ref in extra_metrics.items()}


def _next_token_loss(output: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(output.flatten(0, 1), target.flatten(), label_smoothing=label_smoothing)


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(output.squeeze(-1), target)
