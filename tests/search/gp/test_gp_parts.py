"""The GP sampler's pieces against reference computations: kernel, posterior, log-EI, fit, optimiser."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from scipy.optimize import approx_fprime
from scipy.stats import norm

from optflow.search.samplers.gp import optim
from optflow.search.samplers.gp.acqf import LogEI, log_ei, log_h
from optflow.search.samplers.gp.gp import GaussianProcess, Hyperparameters, _neg_log_posterior, fit_hyperparameters
from optflow.search.samplers.gp.kernel import TrainingDistances, matern52, squared_distances
from optflow.search.samplers.gp.prior import default_prior
from optflow.search.samplers.gp.search_space import SearchSpace

RNG = np.random.default_rng(0)


def reference_matern52(a: np.ndarray, b: np.ndarray, lengthscales: np.ndarray, scale: float, cat: np.ndarray):
    """Rasmussen & Williams eq. 4.17, one pair at a time."""
    r2 = sum(((a[d] != b[d]) if cat[d] else (a[d] - b[d]) ** 2) / lengthscales[d] ** 2 for d in range(len(a)))
    r = math.sqrt(r2)
    return scale * (1 + math.sqrt(5) * r + 5 / 3 * r * r) * math.exp(-math.sqrt(5) * r)


def test_kernel_matches_the_reference():
    cat = np.array([False, True, False])
    x = np.column_stack([RNG.random(4), RNG.integers(0, 3, 4), RNG.random(4)])
    X = np.column_stack([RNG.random(5), RNG.integers(0, 3, 5), RNG.random(5)])
    lengthscales = np.array([0.3, 0.7, 1.5])
    K = matern52(x, X, 1 / lengthscales**2, 1.7, cat)
    expected = [[reference_matern52(a, b, lengthscales, 1.7, cat) for b in X] for a in x]
    np.testing.assert_allclose(K, expected, rtol=1e-12)


def test_posterior_interpolates_noiseless_data():
    X = RNG.random((8, 2))
    y = np.sin(5 * X[:, 0]) + X[:, 1]
    gp = GaussianProcess(X, y, Hyperparameters(np.array([4.0, 4.0]), 1.0, 1e-8), np.array([False, False]))
    mean, variance = gp.posterior(X)
    np.testing.assert_allclose(mean, y, atol=1e-5)
    assert np.all(variance < 1e-5)
    far_variance = gp.posterior(np.array([[5.0, 5.0]]))[1]
    assert far_variance[0] == pytest.approx(1.0, rel=1e-6)


def test_posterior_gradients_match_finite_differences():
    X = RNG.random((10, 3))
    cat = np.array([False, False, True])
    X[:, 2] = RNG.integers(0, 2, 10)
    gp = GaussianProcess(X, RNG.normal(size=10), Hyperparameters(np.array([3.0, 5.0, 1.0]), 1.2, 1e-3), cat)
    continuous = ~cat
    x = np.array([0.3, 0.6, 1.0])
    acquisition = LogEI(gp, best=0.5)
    _, gradient = acquisition.with_gradient(x[None], continuous)

    def value(z):
        return acquisition(np.array([[z[0], z[1], 1.0]]))[0]

    np.testing.assert_allclose(gradient[0], approx_fprime(x[:2], value, 1e-7), rtol=1e-4, atol=1e-7)


def test_log_ei_equals_log_of_closed_form_ei_where_finite():
    z = np.linspace(-20, 5, 101)
    closed_form = np.log(norm.pdf(z) + z * norm.cdf(z))
    np.testing.assert_allclose(log_h(z), closed_form, rtol=1e-7)
    mean, variance = np.array([0.2, -1.0]), np.array([0.5, 2.0])
    sigma = np.sqrt(variance)
    ei = sigma * (norm.pdf((mean - 0.1) / sigma) + (mean - 0.1) / sigma * norm.cdf((mean - 0.1) / sigma))
    np.testing.assert_allclose(log_ei(mean, variance, 0.1), np.log(ei), rtol=1e-10)


def test_log_ei_stays_finite_and_monotone_far_in_the_tail():
    z = -np.logspace(1, 12, 60)
    values = log_h(z)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) < 0)  # z decreasing -> log h decreasing
    with np.errstate(divide="ignore"):
        assert np.isneginf(np.log(norm.pdf(-40.0) + -40.0 * norm.cdf(-40.0)))  # what plain EI would give


def per_dimension_distances(x: np.ndarray, X: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """D (m, n, d) written out: squared differences, 0/1 mismatches for categoricals."""
    diff = x[:, None, :] - X[None, :, :]
    return np.where(cat, (np.abs(diff) > 0.5).astype(float), diff * diff)


def test_distances_by_matrix_products_match_the_written_out_ones():
    cat = np.array([False, True, False, False])
    X = np.column_stack([RNG.random(9), RNG.integers(0, 3, 9), RNG.random(9), RNG.random(9)])
    X[3] = X[5]  # a duplicate: its distance must come out 0, not slightly negative
    x = np.vstack([RNG.random((4, 4)), X[:2]])
    x[:, 1] = RNG.integers(0, 3, 6)
    lam = np.array([3.0, 0.5, 2e4, 0.01])
    np.testing.assert_allclose(squared_distances(x, X, lam, cat), per_dimension_distances(x, X, cat) @ lam, atol=1e-9)
    distances = TrainingDistances(X, cat)
    D = per_dimension_distances(X, X, cat)
    np.testing.assert_allclose(distances.r2(lam), D @ lam, atol=1e-9)
    assert distances.r2(lam)[3, 5] == pytest.approx(0.0, abs=1e-9)
    M = RNG.normal(size=(9, 9))
    M = M + M.T
    np.testing.assert_allclose(distances.weighted_sums(M.copy()), np.einsum("ij,ijk->k", M, D), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cat", [np.array([False, False]), np.array([False, True])])
def test_likelihood_gradient_matches_finite_differences(cat):
    X = RNG.random((12, 2))
    X[:, cat] = RNG.integers(0, 3, (12, int(cat.sum())))
    y = np.cos(4 * X[:, 0]) * X[:, 1]
    distances = TrainingDistances(X, cat)
    prior = default_prior(2)
    theta = np.array([-0.5, 0.2, 0.1, -3.0])
    _, gradient = _neg_log_posterior(theta, distances, y, prior)
    numeric = approx_fprime(theta, lambda t: _neg_log_posterior(t, distances, y, prior)[0], 1e-7)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


def test_fit_recovers_a_relevant_and_an_irrelevant_dimension():
    X = RNG.random((40, 2))
    y = np.sin(6 * X[:, 0])  # the second input does not matter
    y = (y - y.mean()) / y.std()
    params = fit_hyperparameters(X, y, np.array([False, False]), default_prior(2))
    lengthscales = 1 / np.sqrt(params.inverse_sq_lengthscales)
    assert lengthscales[0] < 1.0 < lengthscales[1]
    assert params.noise < 1e-2


def test_conditioning_on_a_running_point_collapses_its_variance():
    X = 0.3 * RNG.random((6, 1))
    gp = GaussianProcess(X, np.sin(3 * X[:, 0]), Hyperparameters(np.array([10.0]), 1.0, 1e-6), np.array([False]))
    running = np.array([[0.8]])
    believed = gp.condition_on(running, gp.posterior(running)[0])
    assert believed.posterior(running)[1][0] < 1e-3 * gp.posterior(running)[1][0]
    np.testing.assert_allclose(believed.posterior(running)[0], gp.posterior(running)[0], atol=1e-6)


class KnownSurface:
    """An acquisition with a known maximum: continuous x=0.62, int n=7, the last category."""

    def __init__(self, space: SearchSpace) -> None:
        self.target = space.encode({"c": "c", "n": 7, "x": 0.62})

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return self.with_gradient(points, np.array([False, False, True]))[0]

    def with_gradient(self, points: np.ndarray, continuous: np.ndarray):
        diff = points - self.target
        values = -(diff[:, 2] ** 2) - 0.1 * diff[:, 1] ** 2 - (np.abs(diff[:, 0]) > 0.5)
        return values, -2 * diff[:, continuous]


@pytest.mark.parametrize("scales", [None, np.array([1.0, 2.0, 0.05])])
def test_optimiser_finds_the_maximum_of_a_known_surface(scales):
    space = SearchSpace(
        {"x": FloatDistribution(0, 1), "n": IntDistribution(1, 10), "c": CategoricalDistribution(["a", "b", "c"])}
    )
    surface = KnownSurface(space)
    anchors = space.snap(RNG.random((3, 3)))
    best = optim.maximize(surface, space, anchors, np.random.RandomState(0), scales)
    params = space.decode(best)
    assert params["c"] == "c" and params["n"] == 7
    assert params["x"] == pytest.approx(0.62, abs=1e-5)


@pytest.mark.parametrize(
    "distribution,value",
    [
        (FloatDistribution(1e-5, 1.0, log=True), 3.2e-3),
        (IntDistribution(2, 64, log=True), 17),
        (IntDistribution(0, 20, step=4), 12),
        (FloatDistribution(-1.0, 1.0, step=0.25), 0.5),
        (CategoricalDistribution(["sgd", "adam", None]), None),
    ],
)
def test_search_space_round_trip(distribution, value):
    space = SearchSpace({"p": distribution})
    point = space.encode({"p": value})
    assert 0.0 <= point[0] <= (len(distribution.choices) if hasattr(distribution, "choices") else 1.0)
    decoded = space.decode(space.snap(point[None])[0])["p"]
    assert type(decoded) is type(value)
    if value is not None:
        assert decoded == pytest.approx(value)


def test_yeo_johnson_matches_scipy():
    from scipy import stats

    from optflow.search.samplers.gp.outputs import YEO_JOHNSON_LAMBDAS
    from optflow.search.samplers.gp.outputs import transform_outputs as _transform_outputs
    from optflow.search.samplers.gp.outputs import yeo_johnson as _yeo_johnson

    values = -np.random.default_rng(1).lognormal(size=40)  # skewed, like losses turned to "higher is better"
    z = (values - values.mean()) / values.std()
    reference, lmbda = stats.yeojohnson(z)
    np.testing.assert_allclose(_yeo_johnson(z, np.array([lmbda]))[0], reference, rtol=1e-10, atol=1e-12)
    ours = _transform_outputs(values)
    assert abs(stats.skew(ours)) < abs(stats.skew(values)) / 3  # the power transform removes the skew
    assert ours.mean() == pytest.approx(0, abs=1e-12) and ours.std() == pytest.approx(1)
    assert YEO_JOHNSON_LAMBDAS.min() <= lmbda <= YEO_JOHNSON_LAMBDAS.max()


def test_one_diverging_loss_does_not_flatten_the_rest():
    """Regression: a loss 500x the others once made the power transform squash every other value together."""
    from optflow.search.samplers.gp.outputs import transform_outputs as _transform_outputs

    losses = np.concatenate([np.linspace(0.08, 0.6, 19), [54.0]])
    y = _transform_outputs(-losses)
    others = y[:-1]
    assert others.max() - others.min() > 2.0  # the ordinary trials stay spread out
    assert np.all(np.diff(others) < 0)  # and in order: lower loss, higher y


def test_fit_restarts_grow_sparser_only_past_the_benchmark_budget():
    from optflow.search.samplers.gp.sampler import _restart_fit

    restarts = [n for n in range(1, 301) if _restart_fit(n)]
    assert restarts[:30] == list(range(1, 31))
    assert [n for n in restarts if 30 < n < 120] == list(range(35, 120, 5))
    assert [n for n in restarts if n >= 240] == [240, 260, 280, 300]
