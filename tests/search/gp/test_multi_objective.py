"""Several objectives and constraints: Pareto helpers, log EHVI and log PoF against brute force, the sampler."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from scipy.optimize import approx_fprime

from optflow.search.samplers.gp import GPSampler
from optflow.search.samplers.gp.acqf import LogPoF
from optflow.search.samplers.gp.ehvi import LogEHVI
from optflow.search.samplers.gp.gp import GaussianProcess, Hyperparameters
from optflow.search.samplers.gp.pareto import hypervolume, non_dominated, non_dominated_boxes

optuna.logging.set_verbosity(optuna.logging.WARNING)
RNG = np.random.default_rng(0)


def brute_hypervolume(front: np.ndarray, reference: np.ndarray, upper: float, n: int = 200_000) -> float:
    """Monte Carlo volume of the dominated region inside the box [reference, upper]."""
    points = RNG.uniform(reference, upper, size=(n, len(reference)))
    dominated = np.zeros(n, dtype=bool)
    for p in front:
        dominated |= np.all(points <= p, axis=1)
    return float(dominated.mean() * np.prod(upper - reference))


@pytest.mark.parametrize("M", [2, 3])
def test_non_dominated_matches_pairwise_comparison(M):
    points = RNG.integers(0, 4, size=(40, M)).astype(float)  # ties and duplicates on purpose
    mask = non_dominated(points)
    for i, p in enumerate(points):
        dominated = any(np.all(q >= p) and np.any(q > p) for q in points)
        first_of_equals = not any(np.all(points[j] == p) for j in range(i))
        assert mask[i] == (not dominated and first_of_equals)


@pytest.mark.parametrize("M", [2, 3])
def test_hypervolume_and_boxes_agree_with_monte_carlo(M):
    front = RNG.uniform(0.2, 1.0, size=(12, M))
    front = front[non_dominated(front)]
    reference, upper = np.zeros(M), 1.5
    exact = hypervolume(front, reference)
    assert exact == pytest.approx(brute_hypervolume(front, reference, upper), rel=0.02)
    # The boxes cover exactly what the front leaves undominated: inside [reference, upper], their volume is
    # the rest of the box.
    lower, high = non_dominated_boxes(front, reference)
    clipped = np.clip(np.minimum(high, upper) - lower, 0.0, None).prod(axis=1).sum()
    assert clipped == pytest.approx(upper**M - exact, rel=1e-9)
    # ... and give each point's hypervolume improvement.
    for y in RNG.uniform(0.0, 1.4, size=(20, M)):
        improvement = np.clip(np.minimum(y, high) - lower, 0.0, None).prod(axis=1).sum()
        assert improvement == pytest.approx(hypervolume(np.vstack([front, y]), reference) - exact, abs=1e-12)


class FixedPosterior:
    """A stand-in GP whose posterior is the same normal everywhere."""

    def __init__(self, mean: float, variance: float) -> None:
        self.m, self.v = mean, variance

    def posterior(self, x):
        return np.full(len(x), self.m), np.full(len(x), self.v)


@pytest.mark.parametrize("M", [2, 3])
def test_log_ehvi_equals_the_log_of_a_brute_force_monte_carlo_estimate(M):
    rng = np.random.default_rng(10 + M)
    front = rng.uniform(0.2, 1.0, size=(8, M))
    front = front[non_dominated(front)]
    reference = np.zeros(M)
    means, stds = rng.uniform(0.3, 0.9, size=M), rng.uniform(0.1, 0.3, size=M)
    gps = [FixedPosterior(m, s**2) for m, s in zip(means, stds, strict=True)]
    ours = LogEHVI(gps, front, reference)(np.zeros((1, 1)))[0]
    # Plain Monte Carlo with independent draws and the exact improvement (the boxes, checked against
    # `hypervolume` above), against the closed form.
    lower, upper = non_dominated_boxes(front, reference)
    draws = means + stds * np.random.default_rng(M).standard_normal((400_000, M))
    improvements = np.zeros(len(draws))
    for low, high in zip(lower, upper, strict=True):
        improvements += np.clip(np.minimum(draws, high) - low, 0.0, None).prod(axis=1)
    assert ours == pytest.approx(math.log(improvements.mean()), abs=0.01)  # EHVI within 1 %


def fitted_gp(X: np.ndarray, y: np.ndarray) -> GaussianProcess:
    return GaussianProcess(X, y, Hyperparameters(np.full(X.shape[1], 5.0), 1.0, 1e-3), np.zeros(X.shape[1], bool))


def central_differences(acquisition, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    steps = np.eye(len(x)) * step
    return np.array([(acquisition((x + h)[None])[0] - acquisition((x - h)[None])[0]) / (2 * step) for h in steps])


def test_log_ehvi_gradient_matches_finite_differences_also_far_from_improving():
    X = RNG.uniform(size=(15, 3))
    gps = [fitted_gp(X, np.sin(4 * X[:, 0]) + X[:, 1]), fitted_gp(X, np.cos(3 * X[:, 1]) - X[:, 2])]
    Y = np.stack([gp.y for gp in gps], axis=1)
    front = Y[non_dominated(Y)]
    acquisition = LogEHVI(gps, front, Y.min(axis=0) - 0.1)
    continuous = np.ones(3, dtype=bool)
    for x in (RNG.uniform(size=3), X[np.argmin(Y.sum(axis=1))]):  # anywhere, and at a dominated point
        value, gradient = acquisition.with_gradient(x[None], continuous)
        assert np.isfinite(value[0]) and np.all(np.isfinite(gradient))
        np.testing.assert_allclose(gradient[0], central_differences(acquisition, x), rtol=1e-4, atol=1e-4)


def test_log_pof_is_the_probability_that_every_constraint_holds():
    X = RNG.uniform(size=(12, 2))
    gps = [fitted_gp(X, X[:, 0] - 0.5), fitted_gp(X, 0.3 - X[:, 1])]
    thresholds = np.array([0.0, 0.1])
    pof = LogPoF(gps, thresholds)
    x = np.array([[0.4, 0.35]])
    posteriors = [gp.posterior(x) for gp in gps]
    draws = np.stack([m[0] + math.sqrt(v[0]) * RNG.standard_normal(200_000) for m, v in posteriors])
    brute = np.mean(np.all(draws <= thresholds[:, None], axis=0))
    assert math.exp(pof(x)[0]) == pytest.approx(brute, abs=0.005)
    _, gradient = pof.with_gradient(x, np.ones(2, dtype=bool))
    numeric = approx_fprime(x[0], lambda z: pof(z[None])[0], 1e-7)
    np.testing.assert_allclose(gradient[0], numeric, rtol=1e-4, atol=1e-6)


def zdt1(trial: optuna.Trial) -> tuple[float, float]:
    x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)])
    g = 1 + 9 * x[1:].mean()
    return float(x[0]), float(g * (1 - math.sqrt(x[0] / g)))


def median_hypervolume(make_sampler, n_trials: int) -> float:
    volumes = []
    for seed in range(3):
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(seed))
        study.optimize(zdt1, n_trials=n_trials)
        front = np.array([t.values for t in study.best_trials])
        volumes.append(hypervolume(-front, -np.array([1.1, 11.0])))
    return float(np.median(volumes))


def test_two_objectives_beat_random_search_in_hypervolume():
    ours = median_hypervolume(lambda seed: GPSampler(seed=seed), 30)
    random = median_hypervolume(lambda seed: optuna.samplers.RandomSampler(seed=seed), 30)
    assert ours > random


def test_constrained_proposals_learn_where_the_feasible_region_is():
    """Feasible only inside a disc of radius 0.3 around (0.7, 0.7): after the startup trials, most are inside."""

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        trial.set_constraint("disc", (x - 0.7) ** 2 + (y - 0.7) ** 2 - 0.09)
        return x + y

    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=10))
    study.optimize(objective, n_trials=30)
    feasible = [t.value for t in study.trials if t.constraints["disc"] <= 0]
    assert min(feasible) < 0.99  # the disc's best point, on its edge: 1.4 − 0.3·√2 ≈ 0.976
    # Most proposals hug the edge (within 0.01 of it), where the best feasible point is.
    assert sum(t.constraints["disc"] <= 0.01 for t in study.trials[10:]) >= 15


def test_constraints_func_is_taken_as_optuna_samplers_take_it():
    sampler = GPSampler(seed=0, n_startup_trials=3, constraints_func=lambda t: (t.params["x"] - 0.5,))
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: -t.suggest_float("x", 0, 1), n_trials=8)
    assert all(t.constraints == {"0": pytest.approx(t.params["x"] - 0.5)} for t in study.trials)
    assert sum(t.params["x"] <= 0.5 for t in study.trials[3:]) >= 3


def test_three_objectives_work_and_four_are_refused():
    def three(trial: optuna.Trial) -> tuple[float, float, float]:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        return x, (1 - x) * y, (1 - x) * (1 - y)

    study = optuna.create_study(directions=["minimize"] * 3, sampler=GPSampler(seed=0, n_startup_trials=5))
    study.optimize(three, n_trials=10)
    assert len(study.trials) == 10 and len(study.best_trials) >= 2
    four = optuna.create_study(directions=["minimize"] * 4, sampler=GPSampler(seed=0))
    with pytest.raises(ValueError, match="1 to 3 objectives"):
        four.optimize(lambda t: (t.suggest_float("x", 0, 1),) * 4, n_trials=1)


def test_feasible_means_every_known_bound_holds_and_failed_trials_never_are():
    from optflow.search.samplers.gp.observations import Observations

    nan = float("nan")
    constraints = np.array([[-1.0, nan], [nan, 0.5], [nan, nan], [0.0, -2.0], [nan, nan]])
    failed = np.array([False, False, False, False, True])
    observed = Observations([{}] * 5, np.zeros((5, 1)), constraints, failed)
    assert list(observed.feasible) == [True, False, True, True, False]
    assert list(observed.known(1)) == [False, True, False, True, False]
