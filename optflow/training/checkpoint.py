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

import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

FORMAT = 1  # bumped when the saved fields change; an older file is not resumed from

logger = logging.getLogger("optflow")


def _never() -> None:
    """The default clean point: nothing pending, nothing raised."""


@dataclass
class TrialCheckpoint:
    """Where one trial's checkpoint lives and when the loop writes it.

    `identity` names what was trained (the study, the trial's params and setup, the device type): a checkpoint
    of anything else is not resumed from. `clean_point` is called between optimiser steps and validation
    batches; it raises `KeyboardInterrupt` when a signal is pending, and the loop then writes a checkpoint of
    that point before the interrupt goes on. A checkpoint that cannot be written or read costs the trial its
    resume, never the trial itself: a warning says so and training goes on.
    """

    path: Path
    every: int  # epochs between checkpoints; 0: only when a signal stops the trial and when it ends
    identity: Mapping[str, Any] = field(default_factory=dict)
    clean_point: Callable[[], None] = _never
    seconds: list[float] = field(default_factory=list)  # how long each save took
    resumed_from: int | None = None  # the epoch the trial resumed at (set by the loop)
    _failed: bool = False  # a save failed and was said once

    def due(self, epochs_done: int) -> bool:
        return self.every > 0 and epochs_done % self.every == 0

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none for this trial (or it was of another setup)."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - a truncated or foreign file: start over, say why
            logger.warning("checkpoint %s cannot be read (%s); the trial starts over", self.path, _brief(error))
            return None
        if state.get("format") != FORMAT or state.get("identity") != _plain(self.identity):
            logger.warning("checkpoint %s is of another setup or version; the trial starts over", self.path)
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` atomically: to a temporary file in the same directory, flushed to disk, then renamed
        over the last checkpoint, so a kill or a power cut leaves the previous one whole."""
        started = time.perf_counter()
        partial = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
            partial = Path(name)
            with os.fdopen(handle, "wb") as file:
                torch.save({**state, "format": FORMAT, "identity": _plain(self.identity)}, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, self.path)
            partial = None
        except Exception as error:  # noqa: BLE001 - a full disk or a lost mount must not fail the trial
            if not self._failed:
                logger.warning("could not write checkpoint %s (%s); training goes on", self.path, _brief(error))
            self._failed = True
        finally:
            if partial is not None:
                partial.unlink(missing_ok=True)
        self.seconds.append(time.perf_counter() - started)


def _plain(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The identity as a checkpoint stores it (only plain values load with `weights_only`)."""
    return {key: repr(value) for key, value in sorted(identity.items())}


def _brief(error: BaseException) -> str:
    return getattr(error, "strerror", None) or f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def host_copy(value: Any) -> Any:
    """`value` with every tensor copied to the host: a checkpoint loads on any machine, GPU or not."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: host_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(host_copy(item) for item in value)
    return value
