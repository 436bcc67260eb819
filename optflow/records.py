"""The plain data that flows from the trainer to tracking, pruning and plots; each metric name written once."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Per-epoch metrics, logged with step = epoch. val_accuracy is for classification, val_rmse for regression.
EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy", "val_rmse", "lr")


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of training measured."""

    epoch: int  # 0-based
    train_loss: float  # mean data loss over the epoch's batches (without the L1 penalty)
    val_loss: float
    lr: float  # learning rate used during this epoch
    steps: int  # optimiser steps taken in this epoch
    seconds: float  # wall time since training started, at the end of this epoch
    val_accuracy: float | None = None
    val_rmse: float | None = None

    def metrics(self) -> dict[str, float]:
        """The epoch metrics that apply to this task, by name."""
        values = {name: getattr(self, name) for name in EPOCH_METRICS}
        return {name: float(value) for name, value in values.items() if value is not None}


def best_value(records: list[EpochRecord], metric: str, maximize: bool) -> float:
    """The best value of `metric` over the epochs (NaN when there are none)."""
    values = [r.metrics()[metric] for r in records if metric in r.metrics()]
    if not values:
        return math.nan
    return max(values) if maximize else min(values)


def final_metrics(records: list[EpochRecord], complete: bool) -> dict[str, float]:
    """The once-per-run metrics; `best_val_loss` only for a run that completed (never a pruned run's)."""
    final = {"epochs_run": float(len(records)), "train_seconds": records[-1].seconds if records else 0.0}
    if complete and records:
        final["best_val_loss"] = min(r.val_loss for r in records)
    return final
