"""Samplers on several objectives, with and without constraints: hypervolume regret after 60 and 100 trials.

    python benchmarks/multi_objective_bench.py                 # docs/benchmarks.md's table
    python benchmarks/multi_objective_bench.py --seeds 2 --problems zdt1 --budget 40   # a quick look

Problems (all minimised, 6 variables in [0, 1]):
- ZDT1, ZDT2, ZDT3: Zitzler, Deb & Thiele (2000), "Comparison of Multiobjective Evolutionary Algorithms:
  Empirical Results" (convex, concave and disconnected fronts); reference point (1.1, 11).
- DTLZ2 with 3 objectives: Deb, Thiele, Laumanns & Zitzler (2002), "Scalable Multi-Objective Optimization
  Test Problems" (a spherical front); reference point (2.2, 2.2, 2.2).
- C2-DTLZ2 with 3 objectives: Jain & Deb (2014), "An Evolutionary Many-Objective Optimization Algorithm Using
  Reference-Point Based Nondominated Sorting Approach, Part II" (DTLZ2 whose front is feasible only in four
  small regions, r = 0.4), the constraint set with `trial.set_constraint`.
Reported: median over seeds of the hypervolume regret, the optimal front's hypervolume (from 2,500 points of
it) minus that of the feasible trials so far, and seconds per trial.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import optuna

from optflow.search.samplers.gp import GPSampler
from optflow.search.samplers.gp.pareto import hypervolume, non_dominated

N_VARIABLES = 6
Objective = Callable[[optuna.Trial], tuple[float, ...]]


def _variables(trial: optuna.Trial) -> np.ndarray:
    return np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(N_VARIABLES)])


def _zdt(shape: Callable[[float, float], float]) -> Objective:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = _variables(trial)
        g = 1 + 9 * x[1:].mean()
        return float(x[0]), float(g * shape(x[0], g))

    return objective


ZDT_SHAPES = {
    "zdt1": lambda f1, g: 1 - math.sqrt(f1 / g),
    "zdt2": lambda f1, g: 1 - (f1 / g) ** 2,
    "zdt3": lambda f1, g: 1 - math.sqrt(f1 / g) - f1 / g * math.sin(10 * math.pi * f1),
}


def dtlz2_values(x: np.ndarray, n_objectives: int = 3) -> np.ndarray:
    """DTLZ2's objectives for variables x (..., n)."""
    g = np.sum((x[..., n_objectives - 1 :] - 0.5) ** 2, axis=-1)
    angles = x[..., : n_objectives - 1] * math.pi / 2
    values = []
    for i in range(n_objectives):
        value = 1 + g
        for j in range(n_objectives - 1 - i):
            value = value * np.cos(angles[..., j])
        if i > 0:
            value = value * np.sin(angles[..., n_objectives - 1 - i])
        values.append(value)
    return np.stack(values, axis=-1)


C2_RADIUS = 0.4


def c2_violation(f: np.ndarray) -> np.ndarray:
    """C2-DTLZ2's constraint, ≤ 0 feasible: near one axis's unit point or near the front's centre."""
    M = f.shape[-1]
    squares = np.sum(f**2, axis=-1, keepdims=True)
    near_axis = np.min((f - 1) ** 2 + squares - f**2 - C2_RADIUS**2, axis=-1)
    near_centre = np.sum((f - 1 / math.sqrt(M)) ** 2, axis=-1) - C2_RADIUS**2
    return np.minimum(near_axis, near_centre)


def dtlz2(trial: optuna.Trial) -> tuple[float, ...]:
    return tuple(float(v) for v in dtlz2_values(_variables(trial)))


def c2_dtlz2(trial: optuna.Trial) -> tuple[float, ...]:
    f = dtlz2_values(_variables(trial))
    trial.set_constraint("c2", float(c2_violation(f)))
    return tuple(float(v) for v in f)


def optimal_front(problem: str, n: int = 2_500) -> np.ndarray:
    """Points of the problem's Pareto-optimal front (minimisation)."""
    if problem in ZDT_SHAPES:
        f1 = np.linspace(0.0, 1.0, n)
        front = np.stack([f1, [ZDT_SHAPES[problem](v, 1.0) for v in f1]], axis=1)
    else:
        side = int(math.sqrt(n))
        grid = np.stack(np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side)), axis=-1).reshape(-1, 2)
        front = dtlz2_values(np.hstack([grid, np.full((len(grid), N_VARIABLES - 2), 0.5)]))
        if problem == "c2_dtlz2":
            front = front[c2_violation(front) <= 0]
    return front[non_dominated(-front)]


PROBLEMS: dict[str, tuple[Objective, int, np.ndarray]] = {
    **{name: (_zdt(shape), 2, np.array([1.1, 11.0])) for name, shape in ZDT_SHAPES.items()},
    "dtlz2": (dtlz2, 3, np.full(3, 2.2)),
    "c2_dtlz2": (c2_dtlz2, 3, np.full(3, 2.2)),
}

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "optflow-gp": lambda seed: GPSampler(seed=seed),
    "optuna-gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def hypervolume_curve(study: optuna.Study, reference: np.ndarray) -> list[float]:
    """Hypervolume of the feasible trials among the first n, for every n (minimisation → negated)."""
    curve, points = [], []
    for trial in study.trials:
        feasible = all(v <= 0 for v in trial.constraints.values())
        if trial.values is not None and feasible:
            points.append(trial.values)
        front = -np.array(points).reshape(len(points), len(reference))
        curve.append(hypervolume(front[non_dominated(front)], -reference) if len(points) else 0.0)
    return curve


def compare(problems: list[str], samplers: list[str], seeds: int, budget: int) -> None:
    checkpoints = sorted({min(60, budget), budget})
    print(f"| problem | sampler | {' | '.join(f'HV regret@{c}' for c in checkpoints)} | s/trial |")
    print("|---|---|" + "---|" * (len(checkpoints) + 1))
    for problem in problems:
        objective, n_objectives, reference = PROBLEMS[problem]
        front = -optimal_front(problem)
        best = hypervolume(front, -reference)
        for name in samplers:
            curves, seconds = [], []
            for seed in range(seeds):
                study = optuna.create_study(directions=["minimize"] * n_objectives, sampler=SAMPLERS[name](seed))
                start = time.perf_counter()
                study.optimize(objective, n_trials=budget)
                seconds.append((time.perf_counter() - start) / budget)
                curves.append(hypervolume_curve(study, reference))
            regrets = [statistics.median(best - curve[c - 1] for curve in curves) for c in checkpoints]
            cells = " | ".join(f"{r:.4g}" for r in regrets)
            print(f"| {problem} | {name} | {cells} | {statistics.median(seconds):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=100)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    compare(args.problems.split(","), args.samplers.split(","), args.seeds, args.budget)


if __name__ == "__main__":
    main()
