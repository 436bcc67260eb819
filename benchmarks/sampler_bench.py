"""optflow's GP sampler against Optuna's GPSampler, TPE and random search.

    python benchmarks/sampler_bench.py                       # docs/benchmarks.md's table (about 25 min on 2 cores)
    python benchmarks/sampler_bench.py --seeds 2 --budget 30 --functions branin,levy5   # a quick look
    python benchmarks/sampler_bench.py --timing              # ms per trial of the two GP samplers, d x trials grid
    python benchmarks/sampler_bench.py --timing --dims 2,10 --trials 60   # a quick look at the cost

Test functions (minimised; regret = best value found − known optimum): Branin (2-d), Hartmann-6,
Rosenbrock-4, Ackley-5, Styblinski–Tang-5, Levy-5, a mixed int/categorical function, and a real task: the
project's own trainer tuning lr, l2 and optimizer on digits (regret against the best value any run found).
Reported: median over seeds of the best-so-far regret at several budgets, and seconds per trial.

Timing (`--timing`): `gp` and Optuna's GPSampler run side by side in one process on one thread, one trial of
each in turn (so both see the same load from other work on the machine), on Styblinski–Tang in d dimensions
(an objective that costs nothing); printed with the CPU's name, since which sampler is faster depends on it.
Times are the process's CPU time (`time.process_time`): with one thread it equals wall time on an idle
machine, and it stays put when other work shares the cores, where wall time does not.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import optuna

from optflow.search.samplers.gp import GPSampler

Objective = Callable[[optuna.Trial], float]


def _floats(trial: optuna.Trial, dim: int, low: float, high: float) -> np.ndarray:
    return np.array([trial.suggest_float(f"x{i}", low, high) for i in range(dim)])


def branin(trial: optuna.Trial) -> float:
    x, y = trial.suggest_float("x", -5, 10), trial.suggest_float("y", 0, 15)
    return (
        (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10
    )


HARTMANN_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(trial: optuna.Trial) -> float:
    x = _floats(trial, 6, 0, 1)
    return float(-HARTMANN_ALPHA @ np.exp(-np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1)))


def rosenbrock4(trial: optuna.Trial) -> float:
    x = _floats(trial, 4, -2, 2)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley5(trial: optuna.Trial) -> float:
    x = _floats(trial, 5, -32.768, 32.768)
    return float(-20 * np.exp(-0.2 * np.sqrt(np.mean(x**2))) - np.exp(np.mean(np.cos(2 * np.pi * x))) + 20 + math.e)


def styblinski_tang5(trial: optuna.Trial) -> float:
    x = _floats(trial, 5, -5, 5)
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def levy5(trial: optuna.Trial) -> float:
    w = 1 + (_floats(trial, 5, -10, 10) - 1) / 4
    return float(
        np.sin(np.pi * w[0]) ** 2
        + np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
        + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    )


CATEGORY_OFFSET = {"relu": 0.0, "tanh": 1.0, "gelu": 0.5, "sigmoid": 2.0}


def mixed(trial: optuna.Trial) -> float:
    """Two floats (one log), an int and a categorical; minimum 0 at x=0.3, lr=1e-2, n=6, relu."""
    x = trial.suggest_float("x", 0, 1)
    lr = trial.suggest_float("lr", 1e-5, 1, log=True)
    n = trial.suggest_int("layers", 1, 10)
    activation = trial.suggest_categorical("activation", list(CATEGORY_OFFSET))
    return 10 * (x - 0.3) ** 2 + (math.log10(lr) + 2) ** 2 + 0.3 * (n - 6) ** 2 + CATEGORY_OFFSET[activation]


def digits_trainer() -> Objective:
    """The project's own trainer: 10-epoch digits MLP, tuning lr, l2 and the optimiser (val_loss)."""
    from optflow.config import Config, DataConfig, ModelConfig, TrainingConfig
    from optflow.data import load_dataset
    from optflow.models import build_model
    from optflow.records import best_value
    from optflow.training import TrainingDiverged, fit

    data = load_dataset(DataConfig(name="digits"))

    def objective(trial: optuna.Trial) -> float:
        config = TrainingConfig(
            epochs=10,
            lr=trial.suggest_float("lr", 1e-4, 1.0, log=True),
            l2=trial.suggest_float("l2", 1e-6, 1e-1, log=True),
            optimizer=trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam"]),
        )
        model = build_model(Config(model=ModelConfig(hidden=(64,)), training=config), data.spec)
        try:
            return best_value(list(fit(model, data, config)), "val_loss", maximize=False)
        except TrainingDiverged:
            return 10.0  # a diverged run is the worst outcome; keep it comparable across samplers

    return objective


FUNCTIONS: dict[str, tuple[Callable[[], Objective], float | None]] = {
    "branin": (lambda: branin, 0.397887),
    "hartmann6": (lambda: hartmann6, -3.32237),
    "rosenbrock4": (lambda: rosenbrock4, 0.0),
    "ackley5": (lambda: ackley5, 0.0),
    "styblinski_tang5": (lambda: styblinski_tang5, -39.16617 * 5),
    "levy5": (lambda: levy5, 0.0),
    "mixed": (lambda: mixed, 0.0),
    "digits_trainer": (digits_trainer, None),
}

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "optflow-gp": lambda seed: GPSampler(seed=seed),
    "optuna-gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def run(objective: Objective, sampler_name: str, seed: int, budget: int) -> tuple[list[float], float]:
    """Best-so-far values and seconds per trial (the objective's own time included)."""
    study = optuna.create_study(sampler=SAMPLERS[sampler_name](seed))
    start = time.perf_counter()
    study.optimize(objective, n_trials=budget)
    seconds = (time.perf_counter() - start) / budget
    return list(np.minimum.accumulate([t.value for t in study.trials])), seconds


def compare(functions: list[str], samplers: list[str], seeds: int, budget: int) -> None:
    checkpoints = sorted({max(1, budget // 4), budget // 2, budget})
    header = " | ".join(f"regret@{c}" for c in checkpoints)
    print(f"| function | sampler | {header} | s/trial |")
    print("|---|---|" + "---|" * (len(checkpoints) + 1))
    wins = {name: 0 for name in samplers}
    for function in functions:
        make, optimum = FUNCTIONS[function]
        objective = make()
        curves, seconds = {}, {}
        for name in samplers:
            results = [run(objective, name, seed, budget) for seed in range(seeds)]
            curves[name] = np.array([r[0] for r in results])
            seconds[name] = statistics.median(r[1] for r in results)
        reference = optimum if optimum is not None else min(c.min() for c in curves.values())
        finals = {}
        for name in samplers:
            medians = [float(np.median(curves[name][:, c - 1] - reference)) for c in checkpoints]
            finals[name] = medians[-1]
            cells = " | ".join(f"{m:.4g}" for m in medians)
            print(f"| {function} | {name} | {cells} | {seconds[name]:.4f} |", flush=True)
        wins[min(finals, key=finals.get)] += 1
    print("\nlowest median final regret, functions won: " + ", ".join(f"{k} {v}" for k, v in wins.items()))


TIMING_DIMS = (2, 5, 10, 20)
TIMING_TRIALS = (60, 150, 300)
TIMING_WINDOW = 10  # trials before each count whose mean cost is shown as "near n"
TIMED_SAMPLERS = ("optflow-gp", "optuna-gp")


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def styblinski_tang(dim: int) -> Objective:
    def objective(trial: optuna.Trial) -> float:
        x = _floats(trial, dim, -5, 5)
        return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))

    return objective


def timed_trials(dim: int, n_trials: int, seed: int) -> dict[str, np.ndarray]:
    """CPU seconds of each trial (ask, objective, tell) for both GP samplers, run one trial of each in turn."""
    objective = styblinski_tang(dim)
    studies = {name: optuna.create_study(sampler=SAMPLERS[name](seed)) for name in TIMED_SAMPLERS}
    seconds: dict[str, list[float]] = {name: [] for name in TIMED_SAMPLERS}
    for i in range(n_trials):
        for name in TIMED_SAMPLERS[:: 1 if i % 2 == 0 else -1]:  # alternate who goes first
            start = time.process_time()
            trial = studies[name].ask()
            studies[name].tell(trial, objective(trial))
            seconds[name].append(time.process_time() - start)
    return {name: np.array(s) for name, s in seconds.items()}


def timing(dims: list[int], trial_counts: list[int], seeds: int) -> None:
    """CPU ms per trial of `gp` and Optuna's GPSampler: the mean over the first n trials, and near trial n."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's and scipy's BLAS too
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"CPU: {cpu_name()}, one thread, CPU time, load average at start {load}, median of {seeds} seed(s)")
    print(
        "| d | trials | gp ms/trial | Optuna GP ms/trial | ratio | "
        f"gp near n (last {TIMING_WINDOW}) | Optuna near n | ratio near n |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dim in dims:
        runs = [timed_trials(dim, max(trial_counts), seed) for seed in range(seeds)]
        for n in trial_counts:
            mean = {k: statistics.median(float(r[k][:n].mean()) for r in runs) * 1e3 for k in TIMED_SAMPLERS}
            near = {
                k: statistics.median(float(r[k][max(0, n - TIMING_WINDOW) : n].mean()) for r in runs) * 1e3
                for k in TIMED_SAMPLERS
            }
            gp, optuna_gp = TIMED_SAMPLERS
            print(
                f"| {dim} | {n} | {mean[gp]:.1f} | {mean[optuna_gp]:.1f} | {mean[gp] / mean[optuna_gp]:.2f} | "
                f"{near[gp]:.1f} | {near[optuna_gp]:.1f} | {near[gp] / near[optuna_gp]:.2f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--seeds", type=int, default=None, help="5 for regret, 1 for --timing")
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--timing", action="store_true", help="only the ms-per-trial grid of the two GP samplers")
    parser.add_argument("--dims", default=",".join(map(str, TIMING_DIMS)), help="dimensions for --timing")
    parser.add_argument("--trials", default=",".join(map(str, TIMING_TRIALS)), help="trial counts for --timing")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if args.timing:
        dims, trials = [int(d) for d in args.dims.split(",")], sorted(int(n) for n in args.trials.split(","))
        timing(dims, trials, args.seeds or 1)
        return
    compare(args.functions.split(","), args.samplers.split(","), args.seeds or 5, args.budget)


if __name__ == "__main__":
    main()
