"""Where tracking work runs: a single background process, or inline for one-off runs and debugging.

Logging to MLflow costs milliseconds of Python per call (DESIGN.md pitfalls). On a thread it would still hold
the GIL against the training loop, so it runs in one spawned process instead; with one worker the calls
run in submission order. Failures are reported as warnings and never stop the study.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

logger = logging.getLogger("optflow")


class InlineExecutor(Executor):
    """Runs each call at once on the calling thread; same interface as the process executor."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - delivered through the future, like a real executor
            future.set_exception(error)
        return future


class Background:
    """Submits tracking calls; keeps going when one fails (a warning is logged and the failure counted)."""

    def __init__(self, inline: bool = False) -> None:
        if inline:
            self._executor: Executor = InlineExecutor()
        else:
            context = multiprocessing.get_context("spawn")  # fork after torch/threads is unsafe
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=context)
        self.failures = 0

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        future = self._executor.submit(fn, *args, **kwargs)
        future.add_done_callback(self._report_failure)
        return future

    def _report_failure(self, future: Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.failures += 1
            logger.warning("tracking call failed: %s", future.exception())

    def close(self) -> None:
        """Wait for every submitted call to finish, then stop the process."""
        self._executor.shutdown(wait=True)
