"""MLflow's system metrics (CPU, memory, disk, network and, with pynvml, GPU utilisation) on trial runs, when
`study.system_metrics` asks for them.

MLflow's monitor samples the whole machine on a thread. It runs in the tracking process, beside the other MLflow
calls, so that its sampling and logging never hold the GIL of a training loop; the metrics are the machine's,
which is what the process training the trial shares. The monitor starts once the trial's run exists and stops
before the run ends.

MLflow's monitor class is private (`mlflow.system_metrics.system_metrics_monitor.SystemMetricsMonitor`,
checked on MLflow 3.18) and used only here. The public way, `mlflow.start_run(log_system_metrics=True)`, does
not fit: it pushes the run on the thread's active-run stack (which fluent MLflow calls would then log to), reads
the global tracking URI, and stops the monitor only in `mlflow.end_run`, which ends the run FINISHED; optflow's
runs are made by id in the tracking process and end later with their own status and end time.
"""

from __future__ import annotations

from typing import Any

from optflow.tracking import mlflow_runs

SAMPLING_SECONDS = 10.0  # MLflow's default; MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL overrides it
_MONITORS: dict[str, Any] = {}  # run id -> its monitor, in the tracking process


def start_monitored_run(*args: Any, **kwargs: Any) -> str:
    """`mlflow_runs.start_run`, then a system-metrics monitor on the new run; returns the run id."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor  # private: see the docstring

    run_id = mlflow_runs.start_run(*args, **kwargs)
    monitor = SystemMetricsMonitor(run_id, sampling_interval=SAMPLING_SECONDS, tracking_uri=args[0])
    monitor.start()
    _MONITORS[run_id] = monitor
    return run_id


def stop_monitor(run_id: str) -> None:
    """Flush and stop the run's monitor (none: nothing to do)."""
    monitor = _MONITORS.pop(run_id, None)
    if monitor is not None:
        monitor.finish()
