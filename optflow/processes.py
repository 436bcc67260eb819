"""Starting optflow's own processes (the tracking process, `--workers` workers) safely from any caller.

They are spawned, not forked: forking after torch or MLflow started threads can deadlock. A spawned child
normally re-runs the parent's main script first, so that functions defined there can be unpickled; a user's
script that calls `optflow.tune(...)` at top level, without an `if __name__ == "__main__":` guard, would then
start a second study in the child (Python refuses with "An attempt has been made to start a new process
before the current process has finished its bootstrapping phase"). optflow's children only run optflow's
functions on plain data, so they start without the main script.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import SpawnContext

_MAIN_KEYS = ("__file__", "__spec__")  # what `multiprocessing.spawn` reads to find the main script


def spawn_context() -> SpawnContext:
    """The start method of every optflow child process."""
    return multiprocessing.get_context("spawn")


@contextmanager
def main_script_hidden() -> Iterator[None]:
    """While children start inside this block, they do not re-run the parent's `__main__` script."""
    main = sys.modules["__main__"]
    saved = {key: main.__dict__[key] for key in _MAIN_KEYS if key in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
