"""`optflow tune --workers N`: N worker processes on this machine sharing one study.

The launcher is worker 0: it creates the database, study, experiment and study run once (fresh databases
crash when several processes create them at once), then starts the others. Each is a plain `run_study` that
finds the study run through the study's user attrs, exactly like `optflow tune` started on another machine.
The other workers ignore the terminal's Ctrl-C: the launcher forwards it once as SIGTERM, so each ends its
trial as KILLED without being interrupted again halfway through its clean-up.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys

from optflow import interrupts, tracking
from optflow.config import Config
from optflow.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from optflow.study import StudyResult, run_study, study_result


def _worker_main(config: Config, label: str, tracking_uri: str | None, tracking_enabled: bool, quiet: bool) -> None:
    """One worker process: run the study until its budget is spent; exit status like `optflow tune`'s."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C reaches the launcher, which forwards it
    interrupts.install(signal.SIGTERM)
    logging.basicConfig(level=logging.WARNING, format=f"optflow [{label}]: %(levelname)s: %(message)s")
    try:
        run_study(config, tracking_uri=tracking_uri, tracking_enabled=tracking_enabled, quiet=quiet, worker=label)
    except UsageError as error:
        print(f"optflow [{label}]: error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


def run_workers(
    config: Config, workers: int, *, tracking_uri: str | None, tracking_enabled: bool, quiet: bool
) -> StudyResult:
    """Run the study on `workers` processes and return its result; Ctrl-C or SIGTERM stops them all.

    This process is worker 0. The others start once it has validated the input and created the database,
    study, experiment and study run, so bad input fails once (exit 2) and nothing races to create them.
    """
    storage = config.study.storage
    if storage.startswith("sqlite") and (":memory:" in storage or storage.rstrip("/") == "sqlite:"):
        raise UsageError(
            f"study.storage must be a database the worker processes share (a file or a server) with --workers "
            f"{workers}; got {storage!r}"
        )
    if tracking_enabled and not tracking_uri:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    context = multiprocessing.get_context("spawn")  # fork after torch has started threads is unsafe
    others = [
        context.Process(
            target=_worker_main,
            args=(config, f"worker {index}", tracking_uri, tracking_enabled, quiet),
            name=f"worker {index}",
        )
        for index in range(1, workers)
    ]

    study_runs: list[tracking.StudyRun] = []

    def start_others(study_run: tracking.StudyRun | None) -> None:
        study_runs.extend([study_run] if study_run else [])
        for process in others:
            process.start()

    told: set[int] = set()

    def forward(signum: int) -> None:  # at once: the others stop while this one ends its own trial
        for process in others:
            if process.is_alive() and process.pid not in told:
                told.add(process.pid)
                os.kill(process.pid, signal.SIGTERM)  # once: a second signal would cut its clean-up short

    interrupts.on_signal(forward)
    try:
        own = run_study(
            config,
            tracking_uri=tracking_uri,
            tracking_enabled=tracking_enabled,
            quiet=quiet,
            worker="worker 0",
            on_ready=start_others,
        )
        for process in others:
            process.join()
    except KeyboardInterrupt:
        forward(signal.SIGTERM)
        for process in others:
            if process.pid is not None:
                process.join()
        for study_run in study_runs:  # every worker has ended its trial by now
            tracking.close_study_run(study_run, "KILLED")
        raise
    result = study_result(config, own.study_run_id, tracking_uri)
    failed = [f"{p.name} (exit status {p.exitcode})" for p in others if p.exitcode != 0]
    if failed and not result.budget_spent:
        raise WorkersFailed(f"{', '.join(failed)} failed before the study's budget was spent")
    if failed:  # the others spent the budget, retrying what the lost worker ran
        logging.getLogger("optflow").warning("%s ended early; the other workers finished the study", failed)
    return result


class WorkersFailed(RuntimeError):
    """A worker process ended with an error (its own output says which)."""
