"""Ctrl-C and SIGTERM that stop a trial where it can end cleanly.

A KeyboardInterrupt raised anywhere can land between creating a trial's MLflow run and the `try` that ends
it, or inside the clean-up itself, and leave the run RUNNING forever (a multi-worker test caught this).
So around a trial's bookkeeping the first signal is only noted, and raised at the next clean point: at once
inside the training loop (the trial then ends KILLED), or as soon as the bookkeeping is done. A second
signal is raised at once wherever it lands: a user pressing Ctrl-C twice wants out now.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_zones: list[bool] = []  # innermost last; True: a signal may raise here, False: it is deferred
_pending: list[int] = []  # signals received and not raised yet
_listeners: list[Callable[[int], None]] = []  # told of every signal first (a launcher forwards it to workers)


@contextmanager
def forwarding(listener: Callable[[int], None]) -> Iterator[None]:
    """Tell `listener` of every signal received inside the block, before it is handled (a launcher forwards it
    to its workers). Removed when the block ends: a later launch in the same process must not signal the
    pids of an earlier launch's workers, which may belong to other processes by then."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _handle(signum: int, frame: Any) -> None:
    for listener in _listeners:
        listener(signum)
    if _zones and not _zones[-1] and not _pending:
        _pending.append(signum)
        return
    _pending.clear()
    raise KeyboardInterrupt(f"signal {signum}")


def install(*signums: int) -> None:
    """Route these signals (default SIGINT and SIGTERM) through the deferring handler."""
    for signum in signums or (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handle)


def _raise_pending() -> None:
    if _pending:
        signum = _pending.pop()
        _pending.clear()
        raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _zone(interruptible: bool) -> Iterator[None]:
    _zones.append(interruptible)
    try:
        if interruptible:
            _raise_pending()
        yield
    finally:
        _zones.pop()
    _raise_pending()  # leaving either kind of zone is a clean point


def protected() -> Any:
    """A signal received inside is raised when the block ends (or at an `interruptible` block within)."""
    return _zone(False)


def interruptible() -> Any:
    """Inside a `protected` block: the part where a signal may stop the work at once."""
    return _zone(True)


def clean_point() -> None:
    """Inside a `protected` block: raise a signal received since the last clean point, here (between two
    optimiser steps, where a checkpoint can be written)."""
    with interruptible():
        pass
