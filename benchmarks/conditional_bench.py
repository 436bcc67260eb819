"""Samplers on conditional search spaces: params that exist only under a choice of another.

    python benchmarks/conditional_bench.py                     # docs/benchmarks.md's table (about 30 min on 2 cores)
    python benchmarks/conditional_bench.py --seeds 2 --functions tree   # a quick look

Problems (minimised; regret = best value so far − the optimum):
- `optimizer`: a categorical optimiser choice that brings its own params (momentum's coefficient; Adam's
  two betas), beside a shared log-scaled learning rate whose best value depends on the optimiser. Optimum 0.
- `layers`: a layer count (1-4) that brings one log-scaled width per layer, and a shared dropout rate.
  Optimum 0 at 3 layers.
- `tree`: the tree-structured function of Jenatton, Archambeau, González & Seeger (2017), "Bayesian
  Optimization with Tree-structured Dependencies" (ICML), §5.1: two levels of binary choices, each leaf
  with its own continuous param and a shared one per branch. Optimum 0.1.
- `digits`: the project's own digits study (`configs/digits.yaml`, its search space as it is: optimiser,
  learning rate, schedule with `gamma` only under step/exponential and `decay_rate` only under inverse-time,
  L2, dropout), 10 epochs per trial; regret against the best value any run found.

Samplers: optflow's `gp`, Optuna's GPSampler (it draws conditional params at random), TPE with
`multivariate=True, group=True` (the grouped mode built for such spaces) and random search.
Reported: median over seeds of the best-so-far regret after 20, 40 and 60 trials.
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

Objective = Callable[[optuna.Trial], float]

OPTIMIZER_BASE = {"sgd": 0.6, "momentum": 0.25, "adam": 0.0}  # the best each optimiser can reach
OPTIMIZER_BEST_LR = {"sgd": -1.0, "momentum": -2.0, "adam": -3.0}  # log10 of its best learning rate


def optimizer(trial: optuna.Trial) -> float:
    """Each optimiser's own params matter only under it; the learning rate's best value moves with it."""
    choice = trial.suggest_categorical("optimizer", list(OPTIMIZER_BASE))
    lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
    value = OPTIMIZER_BASE[choice] + 0.25 * (math.log10(lr) - OPTIMIZER_BEST_LR[choice]) ** 2
    if choice == "momentum":
        value += 4.0 * (trial.suggest_float("momentum", 0.0, 0.99) - 0.9) ** 2
    elif choice == "adam":
        value += 6.0 * (trial.suggest_float("beta1", 0.5, 0.999) - 0.8) ** 2
        value += 2.0 * (math.log10(1 - trial.suggest_float("beta2", 0.9, 0.9999)) + 3.0) ** 2
    return value


LAYER_BEST_LOG2_WIDTH = (8.0, 7.0, 6.0, 5.0)


def layers(trial: optuna.Trial) -> float:
    """Widths exist only for the layers a trial has; 3 layers of 256, 128 and 64 units is best."""
    n_layers = trial.suggest_int("n_layers", 1, 4)
    value = 0.5 * abs(n_layers - 3) + 4.0 * (trial.suggest_float("dropout", 0.0, 0.5) - 0.2) ** 2
    for i in range(n_layers):
        width = trial.suggest_int(f"width_{i}", 16, 512, log=True)
        value += 0.1 * (math.log2(width) - LAYER_BEST_LOG2_WIDTH[i]) ** 2
    return value


def tree(trial: optuna.Trial) -> float:
    """Jenatton et al. (2017), §5.1: leaves x4..x7 in [−1, 1], branch params r8, r9 in [0, 1]."""
    if trial.suggest_categorical("x1", [0, 1]) == 0:
        r8 = trial.suggest_float("r8", 0.0, 1.0)
        if trial.suggest_categorical("x2", [0, 1]) == 0:
            return trial.suggest_float("x4", -1.0, 1.0) ** 2 + 0.1 + r8
        return trial.suggest_float("x5", -1.0, 1.0) ** 2 + 0.2 + r8
    r9 = trial.suggest_float("r9", 0.0, 1.0)
    if trial.suggest_categorical("x3", [0, 1]) == 0:
        return trial.suggest_float("x6", -1.0, 1.0) ** 2 + 0.3 + r9
    return trial.suggest_float("x7", -1.0, 1.0) ** 2 + 0.4 + r9


def digits() -> Objective:
    """The digits study's own search space through optflow's own suggestion code, 10 epochs per trial."""
    from pathlib import Path

    from optflow.config import load_config
    from optflow.data import load_dataset
    from optflow.models import build_model
    from optflow.records import best_value
    from optflow.search.space import suggest
    from optflow.training import TrainingDiverged, fit

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "digits.yaml", {"training.epochs": 10})
    data = load_dataset(config.data)

    def objective(trial: optuna.Trial) -> float:
        trial_config = config.with_params(suggest(trial, config))
        model = build_model(trial_config, data.spec)
        try:
            return best_value(list(fit(model, data, trial_config.training)), "val_loss", maximize=False)
        except TrainingDiverged:
            return 10.0  # a diverged run is the worst outcome; keep it comparable across samplers

    return objective


FUNCTIONS: dict[str, tuple[Callable[[], Objective], float | None]] = {
    "optimizer": (lambda: optimizer, 0.0),
    "layers": (lambda: layers, 0.0),
    "tree": (lambda: tree, 0.1),
    "digits": (digits, None),
}

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "optflow-gp": lambda seed: GPSampler(seed=seed),
    "optuna-gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "tpe-group": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}

CHECKPOINTS = (20, 40, 60)


def run(objective: Objective, sampler_name: str, seed: int, budget: int) -> tuple[np.ndarray, float]:
    """Best-so-far values and seconds per trial (the objective's own time included)."""
    study = optuna.create_study(sampler=SAMPLERS[sampler_name](seed))
    start = time.perf_counter()
    study.optimize(objective, n_trials=budget)
    seconds = (time.perf_counter() - start) / budget
    return np.minimum.accumulate([t.value for t in study.trials]), seconds


def compare(functions: list[str], samplers: list[str], seeds: int) -> None:
    budget = max(CHECKPOINTS)
    print(f"| problem | sampler | {' | '.join(f'regret@{c}' for c in CHECKPOINTS)} | s/trial |")
    print("|---|---|" + "---|" * (len(CHECKPOINTS) + 1))
    for function in functions:
        make, optimum = FUNCTIONS[function]
        objective = make()
        curves, seconds = {}, {}
        for name in samplers:
            results = [run(objective, name, seed, budget) for seed in range(seeds)]
            curves[name] = np.array([curve for curve, _ in results])
            seconds[name] = statistics.median(s for _, s in results)
        reference = optimum if optimum is not None else min(float(c.min()) for c in curves.values())
        for name in samplers:
            cells = " | ".join(f"{np.median(curves[name][:, c - 1] - reference):.4g}" for c in CHECKPOINTS)
            print(f"| {function} | {name} | {cells} | {seconds[name]:.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    compare(args.functions.split(","), args.samplers.split(","), args.seeds)


if __name__ == "__main__":
    main()
