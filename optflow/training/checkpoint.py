"""A trial's checkpoint: what the next optimiser step depends on, in one file, so a trial run again (the retry
of a dead worker's trial, a rerun after Ctrl-C) resumes where it stopped instead of starting over.

A checkpoint holds the weights, the optimiser's and gradient scaler's states, the RNG states (dropout, and the
shuffle generator as it was when the epoch began, so the epoch's order is drawn again), the position (epoch,
optimiser step, batches of the epoch done), early stopping's state with its best weights, and the records of
the epochs done, which a resumed trial replays so its curve is whole. On the CPU a resumed trial ends with the
same weights as one never stopped. A file is written beside its target and renamed over it: a worker killed
mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

FORMAT = 1  # bumped when the saved fields change; an older file is not resumed from


def _never() -> None:
    """The default clean point: nothing pending, nothing raised."""


@dataclass
class Checkpoints:
    """Where one trial's checkpoint lives and when the loop writes it.

    `identity` names what was trained (the trial's params and batch): a checkpoint of anything else is not
    resumed from. `clean_point` is called between optimiser steps; it raises `KeyboardInterrupt` when a signal
    is pending, and the loop then writes a checkpoint of that step before the interrupt goes on.
    """

    path: Path
    every: int  # epochs between checkpoints; 0: only when a signal stops the trial and when it ends
    identity: Mapping[str, Any] = field(default_factory=dict)
    clean_point: Callable[[], None] = _never
    seconds: list[float] = field(default_factory=list)  # how long each save took
    resumed_from: int | None = None  # the epoch the trial resumed at (set by the loop)

    def due(self, epochs_done: int) -> bool:
        return self.every > 0 and epochs_done % self.every == 0

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none for this trial (or it was of other params)."""
        if not self.path.is_file():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("format") != FORMAT or state.get("identity") != dict(self.identity):
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` atomically (a temporary file renamed over the last checkpoint)."""
        started = time.perf_counter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        torch.save({**state, "format": FORMAT, "identity": dict(self.identity)}, partial)
        os.replace(partial, self.path)
        self.seconds.append(time.perf_counter() - started)


def host_copy(value: Any) -> Any:
    """`value` with every tensor copied to the host: a checkpoint loads on any machine, GPU or not."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: host_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(host_copy(item) for item in value)
    return value


def remove(path: Path) -> None:
    """Delete a checkpoint, if there is one."""
    path.unlink(missing_ok=True)
