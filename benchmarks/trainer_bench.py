"""Trainer throughput against a minimal hand-written PyTorch loop, and the cost of MLflow tracking.

    python benchmarks/trainer_bench.py            # all three parts
    python benchmarks/trainer_bench.py --part trainer
    python benchmarks/trainer_bench.py --part streaming --long-epochs 3000 --long-trials 2 --repeats 4

Part 1 (trainer): samples/second of `optflow.training.fit` and of a hand-written loop doing the same work
(same model, data, batch size, optimiser, one thread, a validation pass per epoch), best of several repeats.
Part 2 (tracking): seconds per trial of a small digits study with MLflow tracking on and off.
Part 3 (streaming): the same for long digits trials (`--long-epochs`, 30-60 s each), whose epochs go to MLflow
while they train (every `OPTFLOW_STREAM_SECONDS`, 5 s of training); studies alternate off and on, after a short
warm-up study of each. Beside wall time it prints the CPU seconds per trial of this process (from the first
trial's start to the last one's end) and of the tracking process (the whole study: start, store, calls), since on
a machine without an idle core the tracking process's work shows up as training time. In the tracking-on studies
a thread counts each trial run's `val_loss` points in the MLflow store once a second, which shows each send as
the count growing while the trial still trains (the points' timestamps cannot: each is stamped with its epoch's
end, however late it is sent).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import optflow
from optflow.config import Config, DataConfig, ModelConfig, TrainingConfig
from optflow.data import load_dataset
from optflow.models import build_model
from optflow.study.options import SilentReporter
from optflow.training import fit

CASES = {
    "digits MLP 64-128-10, batch 64": (DataConfig(name="digits"), 30),
    "synthetic 100k x 100, batch 64": (
        DataConfig(name="classification", n_samples=125_000, n_features=100, n_classes=10, val_fraction=0.2),
        2,
    ),
}


def hand_written(model, data, epochs: int, batch: int, lr: float, loss_of=F.cross_entropy) -> None:
    """The loop a careful user writes by hand: shuffle, slice, step; a validation pass per epoch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    n = data.x_train.shape[0]
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        x_all, y_all = data.x_train[order], data.y_train[order]
        for start in range(0, n, batch):
            loss = loss_of(model(x_all[start : start + batch]), y_all[start : start + batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            loss_of(model(data.x_val), data.y_val).item()


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def trainer_part(repeats: int) -> None:
    torch.set_num_threads(1)
    print(f"{'case':34} {'hand-written':>14} {'optflow':>14} {'ratio':>7}")
    for name, (data_config, epochs) in CASES.items():
        data = load_dataset(data_config)
        config = TrainingConfig(epochs=epochs, batch_size=64, optimizer="sgd", lr=0.05)
        model_config = Config(model=ModelConfig(kind="mlp", hidden=(128,)), training=config)
        samples = data.x_train.shape[0] * epochs

        def ours(config=config, data=data, model_config=model_config):
            for _ in fit(build_model(model_config, data.spec), data, config):
                pass

        def theirs(data=data, model_config=model_config, epochs=epochs):
            hand_written(build_model(model_config, data.spec), data, epochs, 64, 0.05)

        ours(), theirs()  # warm-up
        t_theirs, t_ours = best_of(repeats, theirs), best_of(repeats, ours)
        print(f"{name:34} {samples / t_theirs:>10,.0f} s/s {samples / t_ours:>10,.0f} s/s {t_theirs / t_ours:>6.2f}x")


def study_overrides(directory: str, n_trials: int) -> dict:
    """A throw-away random-search digits study in `directory`, logging no models."""
    return {
        "study.name": "bench",
        "study.n_trials": n_trials,
        "study.sampler": "random",
        "study.storage": f"sqlite:///{directory}/optuna.db",
        "study.log_models": "none",
    }


def tracking_part(n_trials: int, repeats: int) -> None:
    """Median seconds per trial (objective start to end, Optuna reporting included) with tracking on and off."""
    import tempfile

    per_trial: dict[bool, list[float]] = {False: [], True: []}
    for tracking in (False, True) * repeats:
        with tempfile.TemporaryDirectory() as tmp:
            overrides = study_overrides(tmp, n_trials)
            result = optflow.tune({}, overrides=overrides, tracking=tracking, tracking_uri=f"sqlite:///{tmp}/mlflow.db")
            per_trial[tracking].append(result.seconds_per_trial)
    off, on = statistics.median(per_trial[False]), statistics.median(per_trial[True])
    print(f"30-epoch digits trial, {n_trials} trials x {repeats} studies each:")
    print(f"  tracking off {off * 1000:.0f} ms/trial, on {on * 1000:.0f} ms/trial, ratio {on / off:.2f}x")


class StoreWatcher:
    """Counts each run's `val_loss` points in an MLflow SQLite store once a second, from a thread of this process
    (a read-only query of a few milliseconds, which releases the GIL while SQLite works)."""

    def __init__(self, path: Path, every: float = 1.0) -> None:
        self.path, self.every, self.started = path, every, time.perf_counter()
        self.seen: dict[str, list[tuple[float, int]]] = {}  # run -> (seconds since start, points) at each change
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _counts(self) -> dict[str, int]:
        query = "SELECT run_uuid, COUNT(*) FROM metrics WHERE key = 'val_loss' GROUP BY run_uuid"
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=0.5) as connection:
            return dict(connection.execute(query).fetchall())

    def _run(self) -> None:
        while not self.done.wait(self.every):
            try:
                counts = self._counts()
            except sqlite3.Error:  # not made yet, or busy for a moment
                continue
            now = time.perf_counter() - self.started
            for run, count in counts.items():
                history = self.seen.setdefault(run, [])
                if not history or history[-1][1] != count:
                    history.append((now, count))

    def stop(self) -> dict[str, list[tuple[float, int]]]:
        self.done.set()
        self.thread.join()
        try:
            final = self._counts()
        except sqlite3.Error:
            final = {}
        for run, count in final.items():
            history = self.seen.setdefault(run, [])
            if not history or history[-1][1] != count:
                history.append((time.perf_counter() - self.started, count))
        return self.seen


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class CpuClock(SilentReporter):
    """Reads this process's CPU time when the trials begin (the stores are ready) and as each trial ends."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def start(self, config, total: int, done: int) -> None:
        self.marks = [time.process_time()]

    def trial_ended(self, outcome, worker: str) -> None:
        self.marks.append(time.process_time())

    def per_trial(self) -> float:
        return (self.marks[-1] - self.marks[0]) / max(1, len(self.marks) - 1)


def _long_study(n_trials: int, epochs: int, tracking: bool) -> tuple[float, float, float, str]:
    """Seconds per trial, CPU seconds per trial of this process (from the first trial's start to the last one's
    end), CPU seconds of its children in the whole study (the tracking process: its start, the store's creation,
    every call; counted once the study joins it at its end), and the sends seen (tracking on)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        overrides = {**study_overrides(tmp, n_trials), "training.epochs": epochs}
        watcher = StoreWatcher(Path(tmp) / "mlflow.db") if tracking else None
        clock, children = CpuClock(), _cpu(resource.RUSAGE_CHILDREN)
        uri = f"sqlite:///{tmp}/mlflow.db"
        result = optflow.tune({}, overrides=overrides, tracking=tracking, tracking_uri=uri, reporter=clock)
        children = _cpu(resource.RUSAGE_CHILDREN) - children
        sends = _sends(watcher.stop(), epochs) if watcher is not None else ""
    return result.seconds_per_trial, clock.per_trial(), children, sends


def streaming_part(n_trials: int, repeats: int, epochs: int) -> None:
    """Median seconds per long trial with tracking on and off, studies alternated after a warm-up study of each
    (imports, the tracking process's first start), with the CPU seconds spent here and in the tracking process:
    on a machine with no idle core the tracking process's CPU slows training down, and wall time alone mixes it
    with whatever else runs."""
    stream = float(os.environ.get("OPTFLOW_STREAM_SECONDS", "5"))
    print(
        f"{epochs}-epoch digits trials (MLP 64-128-10, batch 64), {n_trials} trials x {repeats} studies each, "
        f"epochs streamed every {stream:g} s of training when tracking is on:",
        flush=True,
    )
    _long_study(1, 1, True), _long_study(1, 1, False)  # warm-up
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for tracking in (False, True) * repeats:
        started = time.perf_counter()
        per_trial, own, tracker, sends = _long_study(n_trials, epochs, tracking)
        wall[tracking].append(per_trial)
        cpu[tracking].append(own)
        mode = "on " if tracking else "off"
        line = f"  tracking {mode} {per_trial:6.2f} s/trial, CPU {own:6.2f} s/trial here"
        if tracking:
            line += f", {tracker:.1f} s in the tracking process"
        line += f" ({time.perf_counter() - started:.0f} s study)" + (f"; {sends}" if sends else "")
        print(line, flush=True)
    off, on = statistics.median(wall[False]), statistics.median(wall[True])
    cpu_off, cpu_on = statistics.median(cpu[False]), statistics.median(cpu[True])
    print(f"  median: tracking off {off:.2f} s/trial, on {on:.2f} s/trial, ratio {on / off:.3f}x")
    ratio = cpu_on / cpu_off
    print(f"  median CPU here: tracking off {cpu_off:.2f} s/trial, on {cpu_on:.2f} s/trial, ratio {ratio:.3f}x")


def _sends(seen: dict[str, list[tuple[float, int]]], epochs: int) -> str:
    """Per trial run: how many times its val_loss points grew before it ended, and when (seconds of the study)."""
    runs = sorted((history for history in seen.values() if history[-1][1] == epochs), key=lambda h: h[0][0])
    if not runs:
        return "no trial run with all its val_loss points in the store"
    parts = []
    for history in runs:
        streamed = [(t, count) for t, count in history if count < epochs]
        ended = history[-1][0]
        gaps = [b[0] - a[0] for a, b in zip(streamed, streamed[1:], strict=False)]
        every = f", every {statistics.median(gaps):.1f} s" if gaps else ""
        span = f" from {streamed[0][0]:.0f} s to {streamed[-1][0]:.0f} s" if streamed else ""
        parts.append(f"{len(streamed)} sends seen while training{span}{every}, all {epochs} at {ended:.0f} s")
    others = len(seen) - len(runs)
    return "runs: " + "; ".join(parts) + (f" (+{others} other runs with val_loss)" if others else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["trainer", "tracking", "streaming", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--long-trials", type=int, default=2, help="trials per study of the streaming part")
    parser.add_argument("--long-epochs", type=int, default=3000, help="epochs of a streaming part's trial")
    args = parser.parse_args()
    if args.part in ("trainer", "all"):
        trainer_part(args.repeats)
    if args.part in ("tracking", "all"):
        tracking_part(args.trials, max(1, args.repeats // 2))
    if args.part in ("streaming", "all"):
        streaming_part(args.long_trials, max(1, args.repeats // 2), args.long_epochs)


if __name__ == "__main__":
    main()
