"""Throughput of one study on PostgreSQL with 1, 2 and 4 workers (`optflow tune --workers N`).

    python benchmarks/workers_bench.py                      # starts a throw-away PostgreSQL (Debian's binaries)
    python benchmarks/workers_bench.py --storage postgresql://user:pw@host/db   # an existing server
    python benchmarks/workers_bench.py --workers 1 2 --trials 40 --no-tracking

Each run is a fresh study of cheap trials (digits MLP, random sampler, MLflow tracking into SQLite). Trials per
minute are counted between the first trial's start and the last trial's end as the storage records them,
so process start-up and the end-of-study plots are left out (they are reported as the command's wall time).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CONFIG = {
    "study": {"sampler": "random", "pruner": "none", "log_models": "none", "seed": 0},
    "data": {"name": "digits"},
    "training": {"epochs": 8, "batch_size": 64},
    "search": {
        "lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
    },
}


def run_once(
    server_url: str, workers: int, trials: int, epochs: int, tracking: bool, tmp: Path
) -> tuple[float, float, float]:
    """(trials per minute, wall seconds, CPU seconds per trial of the whole command) for one fresh study."""
    from postgres_server import create_database

    name = f"bench_w{workers}_{int(time.time() * 1000)}"
    storage = create_database(server_url, name)
    config = {
        **CONFIG,
        "study": {**CONFIG["study"], "name": name, "n_trials": trials},
        "training": {**CONFIG["training"], "epochs": epochs},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "optflow", "tune", "--config", str(path), "--workers", str(workers), "--quiet"]
    if not tracking:
        command.append("--no-tracking")
    env = {**os.environ, "OPTFLOW_STORAGE": storage, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/{name}-mlflow.db"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers and their tracking processes, not PostgreSQL
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done = optuna.load_study(study_name=name, storage=storage).get_trials()
    return steady_rate(done), wall, cpu / len(done)


def steady_rate(trials: list[optuna.trial.FrozenTrial]) -> float:
    """Trials per minute of all workers together: the sum of each worker's own rate over its busy span.

    Workers start seconds apart (each imports torch and MLflow); summing per-worker rates measures how
    well they run side by side, not how long a process takes to start.
    """
    by_worker: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in trials:
        by_worker.setdefault(trial.user_attrs["worker"], []).append(trial)
    rate = 0.0
    for own in by_worker.values():
        span = max(t.datetime_complete for t in own) - min(t.datetime_start for t in own)
        rate += len(own) / (span.total_seconds() / 60) if len(own) > 1 else 0.0
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default="", help="superuser URL of an existing PostgreSQL server")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=8, help="epochs per trial (8: about 0.2 s of training)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker count; the best is reported")
    parser.add_argument("--no-tracking", action="store_true")
    args = parser.parse_args()

    server = None
    server_url = args.storage
    if not server_url:
        from conftest import free_port
        from postgres_server import PostgresServer, find_bindir

        bindir = find_bindir()
        if bindir is None:
            sys.exit("PostgreSQL is not installed: apt-get install -y postgresql, or pass --storage")
        server = PostgresServer(bindir, free_port())
        server.start()
        server_url = server.url()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tracking = "off" if args.no_tracking else "on"
            print(f"{args.trials} trials, digits MLP {args.epochs} epochs, tracking {tracking}")
            print(f"{'workers':>7}  {'trials/min':>10}  {'scaling':>7}  {'wall s':>6}  {'CPU s/trial':>11}")
            base = None
            for workers in args.workers:
                runs = [run_once(server_url, workers, args.trials, args.epochs, not args.no_tracking, Path(tmp))
                        for _ in range(args.repeats)]  # fmt: skip
                rate, wall, cpu = max(runs)
                base = base or rate
                print(f"{workers:>7}  {rate:>10.1f}  {rate / base:>6.2f}x  {wall:>6.1f}  {cpu:>11.2f}", flush=True)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
