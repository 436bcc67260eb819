"""`optflow tune --workers N`: N worker processes on this machine sharing one study.

The launcher is worker 0: it creates the database, study, experiment and study run once (fresh databases
crash when several processes create them at once), then starts the others. Each is a plain `run_study` that
finds the study run through the study's user attrs, exactly like `optflow tune` started on another machine.
The other workers ignore the terminal's Ctrl-C: the launcher forwards it once as SIGTERM, so each ends its
trial as KILLED without being interrupted again halfway through its clean-up.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import replace
from multiprocessing.sharedctypes import Synchronized

from optflow.config import Config
from optflow.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from optflow.processes import main_script_hidden, spawn_context
from optflow.study import interrupts
from optflow.study.options import RunOptions
from optflow.study.result import StudyResult
from optflow.study.study import result_of, run_study
from optflow.tracking.mlflow_runs import StudyRun, close_study_run
from optflow.urls import mask_logging


def _worker_main(config: Config, options: RunOptions, unlogged: Synchronized) -> None:
    """One worker process: run the study until its budget is spent; exit status like `optflow tune`'s. Adds
    its trials whose MLflow runs could not be logged to `unlogged`, which the launcher reports."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C reaches the launcher, which forwards it
    interrupts.install(signal.SIGTERM)
    logging.basicConfig(level=logging.WARNING, format=f"optflow [{options.worker}]: %(levelname)s: %(message)s")
    mask_logging()
    try:
        result = run_study(config, options)
        with unlogged.get_lock():
            unlogged.value += result.unlogged_runs
    except UsageError as error:
        print(f"optflow [{options.worker}]: error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


def run_workers(config: Config, options: RunOptions) -> StudyResult:
    """Run the study on `options.workers` processes and return its result; Ctrl-C or SIGTERM stops them all.

    This process is worker 0. The others start once it has validated the input and created the database,
    study, experiment and study run, so bad input fails once (exit 2) and nothing races to create them. One
    function on purpose: its try/finally owns the processes it starts, so that none outlives the launch.
    """
    if options.tracking and not options.tracking_uri:
        import mlflow

        options = replace(options, tracking_uri=mlflow.get_tracking_uri())  # every worker logs to the same store
    context = spawn_context()
    unlogged = context.Value("i", 0)
    others = [
        context.Process(
            target=_worker_main,
            args=(config, replace(options, worker=f"worker {index}", worker_index=index), unlogged),
            name=f"worker {index}",
        )
        for index in range(1, options.workers)
    ]

    study_runs: list[StudyRun] = []

    def start_others(study_run: StudyRun | None) -> None:
        study_runs.extend([study_run] if study_run else [])
        with main_script_hidden():
            for process in others:
                process.start()

    told: set[int] = set()

    def forward(signum: int) -> None:  # at once: the others stop while this one ends its own trial
        for process in others:
            if process.is_alive() and process.pid not in told:
                told.add(process.pid)
                os.kill(process.pid, signal.SIGTERM)  # once: a second signal would cut its clean-up short

    with interrupts.forwarding(forward):
        try:
            own = run_study(config, replace(options, worker="worker 0"), on_ready=start_others)
            for process in others:
                if process.pid is not None:  # not started when the budget was already spent
                    process.join()
        except KeyboardInterrupt:
            forward(signal.SIGTERM)
            for process in others:
                if process.pid is not None:
                    process.join()
            for study_run in study_runs:  # every worker has ended its trial by now
                close_study_run(study_run, "KILLED")
            raise
    if own.already_spent:
        return own
    tracking_uri = (options.tracking_uri or _default_tracking_uri()) if options.tracking else None
    result = replace(result_of(config, own, tracking_uri), unlogged_runs=own.unlogged_runs + unlogged.value)
    failed = [f"{p.name} (exit status {p.exitcode})" for p in others if p.exitcode != 0]
    if failed and not result.budget_spent:
        raise WorkersFailed(f"{', '.join(failed)} failed before the study's budget was spent")
    if failed:  # the others spent the budget, retrying what the lost worker ran
        logging.getLogger("optflow").warning("%s ended early; the other workers finished the study", failed)
    return result


def _default_tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


class WorkersFailed(RuntimeError):
    """A worker process ended with an error (its own output says which)."""
