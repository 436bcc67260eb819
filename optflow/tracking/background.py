"""Where tracking work runs: a single background process, or inline for one-off runs and debugging.

Logging to MLflow costs milliseconds of Python a call (docs/architecture.md, pitfalls). On a thread it would still hold
the GIL against the training loop, so it runs in one spawned process instead; with one worker the calls
run in submission order. Its failures never stop the study:

- each is counted; the first is reported as one warning (URLs masked), the rest are not repeated;
- after a failure the process skips calls for `COOLDOWN_SECONDS` instead of retrying each against a store
  that is down (MLflow's own retries would hold every call for minutes), then tries again;
- the process ignores Ctrl-C and SIGTERM, which a terminal sends to the whole process group: it finishes
  what it was given when its parent closes it, and exits by itself if its parent dies.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from optflow.processes import main_script_hidden, spawn_context
from optflow.urls import brief_error

logger = logging.getLogger("optflow")

COOLDOWN_SECONDS = 30.0  # after a failure, calls are skipped this long (a store that is down stays down a while)
PARENT_POLL_SECONDS = 1.0  # how often the tracking process checks that its parent is alive
# MLflow's HTTP client retries 7 times with exponential backoff (about 4 minutes per call against a dead server);
# in the tracking process 2 retries (about 6 s) tell a blip from an outage.
HTTP_RETRIES, HTTP_TIMEOUT_SECONDS = "2", "30"


class TrackingSkipped(RuntimeError):
    """A call not made because the tracking store failed moments ago."""


class CoolDown:
    """When calls may be made again: one per tracking process, or per inline `Background`."""

    def __init__(self) -> None:
        self.until = 0.0


_PROCESS_COOL_DOWN = CoolDown()  # in a tracking process, which serves one `Background`


def _guarded(
    fn: Callable[..., Any], *args: Any, _always: bool = False, _cool_down: CoolDown | None = None, **kwargs: Any
) -> Any:
    """Run one tracking call, or skip it during a cool-down (unless `always`); a failure starts a cool-down."""
    cool_down = _cool_down or _PROCESS_COOL_DOWN
    if time.monotonic() < cool_down.until and not _always:
        raise TrackingSkipped(f"skipped for {COOLDOWN_SECONDS:.0f} s after a tracking failure")
    try:
        return fn(*args, **kwargs)
    except Exception:
        cool_down.until = time.monotonic() + COOLDOWN_SECONDS
        raise


def _init_tracking_process(parent_pid: int) -> None:
    """In the tracking process: deaf to the terminal's signals, and gone when its parent is."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_RETRIES)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT_SECONDS)

    def watch_parent() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)  # the parent was killed (SIGKILL, OOM): nobody will read our results

    threading.Thread(target=watch_parent, name="optflow-parent-watch", daemon=True).start()


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
    """Submits tracking calls; keeps going when one fails (counted, the first one warned about)."""

    def __init__(self, inline: bool = False, where: str = "") -> None:
        self._cool_down = CoolDown() if inline else None  # a process has its own
        if inline:
            self._executor: Executor = InlineExecutor()
        else:
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=spawn_context(), initializer=_init_tracking_process, initargs=(os.getpid(),)
            )
            with main_script_hidden():  # the pool starts its process on the first call
                self._executor.submit(os.getpid)
        self._where = where  # the tracking store, password masked, for the warning
        self.failures = 0

    def submit(self, fn: Callable[..., Any], *args: Any, always: bool = False, **kwargs: Any) -> Future:
        """Run `fn(*args, **kwargs)` in the tracking process; `always` tries it even during a cool-down (the
        last calls of a session: a study run's status, its summary)."""
        future = self._executor.submit(_guarded, fn, *args, _always=always, _cool_down=self._cool_down, **kwargs)
        future.add_done_callback(self._count_failure)
        return future

    def _count_failure(self, future: Future) -> None:
        if future.cancelled() or future.exception() is None:
            return
        self.failures += 1
        if self.failures == 1:
            reason = brief_error(future.exception())
            logger.warning(
                "MLflow tracking failed (%s): %s; the study goes on, and what cannot be logged is counted",
                self._where or "tracking store",
                reason,
            )

    def close(self) -> None:
        """Wait for every submitted call to finish, then stop the process."""
        self._executor.shutdown(wait=True)
