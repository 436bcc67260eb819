"""How an epoch's rows become batches: the plan of batch sizes and optimiser steps (gradient accumulation), and
the batches themselves, as views of reshuffled tensors or from a DataLoader over a map-style data set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from optflow.config import TrainingConfig
from optflow.data import Dataset
from optflow.training.optim import full_batch


@dataclass(frozen=True)
class BatchPlan:
    """An epoch's batches and optimiser steps. With gradient accumulation k, batch i adds its share (its rows
    over the rows of its step) of the step's mean loss, and every k-th batch (and the last) closes a step."""

    rows: int  # training rows of an epoch
    size: int  # rows per batch (the last may have fewer)
    sizes: tuple[int, ...]  # each batch's rows
    shares: tuple[float, ...]  # each batch's share of its step's loss
    closes_step: tuple[bool, ...]  # whether the batch ends an optimiser step
    steps: int  # optimiser steps per epoch
    step_rows: int  # rows of a full optimiser step

    @classmethod
    def of(cls, rows: int, config: TrainingConfig) -> BatchPlan:
        size = rows if full_batch(config) else min(int(config.batch_size), rows)
        sizes = [min(size, rows - start) for start in range(0, rows, size)]
        k = config.gradient_accumulation_steps
        step_rows = [sum(sizes[start : start + k]) for start in range(0, len(sizes), k)]
        shares = tuple(rows_ / step_rows[i // k] for i, rows_ in enumerate(sizes))
        closes = tuple(i % k == k - 1 or i == len(sizes) - 1 for i in range(len(sizes)))
        return cls(rows, size, tuple(sizes), shares, closes, len(step_rows), step_rows[0])

    def steps_before(self, batches_done: int) -> int:
        """Optimiser steps the epoch's first `batches_done` batches closed."""
        return sum(self.closes_step[:batches_done])


def tensor_batches(data: Dataset, plan: BatchPlan, shuffle: torch.Generator, device: torch.device) -> Iterator:
    """Views of the (reshuffled) tensors, one per batch: no per-sample Python work."""
    n, size = plan.rows, plan.size
    if size < n:
        order = torch.randperm(n, generator=shuffle, device=device)
        x_epoch, y_epoch = data.x_train[order], data.y_train[order]
    else:
        x_epoch, y_epoch = data.x_train, data.y_train
    for start in range(0, n, size):
        yield x_epoch[start : start + size], y_epoch[start : start + size]


def loader(dataset: Any, size: int, config: TrainingConfig, shuffle: torch.Generator | None = None) -> Any:
    """A DataLoader over a map-style dataset: reshuffled each epoch by `shuffle` when training. The order has
    its own generator, apart from the one worker processes draw their seeds from (once with persistent
    workers, at every epoch without), so a resumed run draws each epoch's order as the first run did."""
    from torch.utils.data import DataLoader, RandomSampler

    return DataLoader(
        dataset,
        batch_size=size,
        sampler=RandomSampler(dataset, generator=shuffle) if shuffle is not None else None,
        generator=torch.Generator().manual_seed(config.seed),
        num_workers=config.num_workers,
        pin_memory=config.pin_memory,
        persistent_workers=config.num_workers > 0 and shuffle is not None,
    )


def to_device(device: torch.device, batches: Any) -> Iterator:
    """Each batch on `device` (copied without waiting for the host, on CUDA)."""
    non_blocking = device.type == "cuda"
    for x, y in batches:
        yield x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)
