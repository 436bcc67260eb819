"""Gaussian-process regression: MAP fit of the kernel hyperparameters and the posterior with gradients.

Notation (shapes):
    X      (n, d)  training inputs in the unit cube          y      (n,)   standardised training outputs
    θ      (d+2,)  (log ℓ_1..d, log s, log σ²)               λ      (d,)   inverse squared lengthscales 1/ℓ²
    C      (n, n)  K(X, X) + σ² I                            L      (n, n) lower Cholesky factor of C
    α      (n,)    C⁻¹ y                                     x      (m, d) query points

Log marginal likelihood and its gradient (Rasmussen & Williams 2006, eqs. 2.30 and 5.9):
    log p(y | θ) = −½ yᵀα − Σ log L_ii − (n/2) log 2π
    ∂/∂θ_j       = ½ tr((ααᵀ − C⁻¹) ∂C/∂θ_j)
Posterior of the latent function (eqs. 2.25–2.26): μ(x) = k(x, X) α, v(x) = s − k(x, X) C⁻¹ k(X, x).

Costs: one likelihood evaluation is O(n³ + n²d): a Cholesky factorisation, C⁻¹ from it (LAPACK potri,
a third of the work of solving against the identity) and matrix products for r² and the lengthscale
gradient (kernel.TrainingDistances); a fit takes a few tens of them, fewer when warm-started from the
previous trial's θ. A posterior over m points is O(m n d + m n²), its gradient O(m n d) more.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from optflow.search.samplers.gp.kernel import TrainingDistances, matern52, matern52_from_r2, squared_distances
from optflow.search.samplers.gp.prior import Prior

# Bounds of θ: lengthscales from 1/200 to 100 of the unit cube, signal variance 1e-2..1e2 (outputs are
# standardised), noise variance from 1e-6 (numerically noiseless) to 1 (pure noise).
LOG_LENGTHSCALE_BOUNDS = (math.log(5e-3), math.log(1e2))
LOG_SIGNAL_BOUNDS = (math.log(1e-2), math.log(1e2))
LOG_NOISE_BOUNDS = (math.log(1e-6), 0.0)
JITTERS = (0.0, 1e-9, 1e-7, 1e-5, 1e-3)  # tried in turn when a Cholesky factorisation fails
MAX_FIT_ITERATIONS = 200
# Stop when no component of the projected gradient exceeds 1e-2 (Optuna's GPSampler uses the same) or the
# relative decrease falls below 1e-6: the log posterior then moves by about 1e-4 more, while scipy's defaults
# (1e-5, 2e-9) spend 1.5-2x the likelihood evaluations on it (measured at n = 60 and 150, d = 5 and 20).
FIT_TOLERANCES = {"gtol": 1e-2, "ftol": 1e-6}
SHORT_LOG_LENGTHSCALE = math.log(0.2)  # the second start of the fit: a fifth of the cube
SHORT_LOG_NOISE = math.log(1e-3)


def cholesky(C: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of C, adding escalating jitter to the diagonal until it factorises."""
    scale = float(np.mean(np.diag(C))) or 1.0
    for jitter in JITTERS:
        try:
            return scipy.linalg.cholesky(C + jitter * scale * np.eye(len(C)), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("covariance matrix is not positive definite even with jitter")


def inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    """C⁻¹ (n, n) from C's lower Cholesky factor L (LAPACK potri)."""
    inverse, info = scipy.linalg.lapack.dpotri(L, lower=1)  # fills the lower triangle; L's upper one is 0
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed with info={info}")
    diagonal = inverse.diagonal().copy()
    inverse += inverse.T
    inverse[np.diag_indices_from(inverse)] = diagonal
    return inverse


@dataclass(frozen=True)
class Hyperparameters:
    """θ in natural units."""

    inverse_sq_lengthscales: np.ndarray  # (d,)
    signal: float
    noise: float

    @classmethod
    def from_theta(cls, theta: np.ndarray) -> Hyperparameters:
        d = len(theta) - 2
        return cls(np.exp(-2.0 * theta[:d]), float(np.exp(theta[d])), float(np.exp(theta[d + 1])))

    def theta(self) -> np.ndarray:
        return np.concatenate(
            [-0.5 * np.log(self.inverse_sq_lengthscales), [math.log(self.signal)], [math.log(self.noise)]]
        )


def _neg_log_posterior(
    theta: np.ndarray, distances: TrainingDistances, y: np.ndarray, prior: Prior
) -> tuple[float, np.ndarray]:
    """−(log p(y | θ) + log p(θ)) and its gradient."""
    n, d = len(y), len(theta) - 2
    params = Hyperparameters.from_theta(theta)
    K, dK_dr2 = matern52_from_r2(distances.r2(params.inverse_sq_lengthscales), params.signal)
    C = K + params.noise * np.eye(n)
    try:
        L = cholesky(C)
        C_inv = inverse_from_cholesky(L)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
    log_likelihood = -0.5 * y @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * math.log(2 * math.pi)

    W = np.outer(alpha, alpha) - C_inv  # ∂ log p / ∂C, up to the factor ½
    grad = np.empty(d + 2)
    # ∂C/∂log ℓ_d = dk/dr² · ∂r²/∂log ℓ_d = dk/dr² · (−2 λ_d D_d)
    grad[:d] = -params.inverse_sq_lengthscales * distances.weighted_sums(W * dK_dr2)
    grad[d] = 0.5 * np.sum(W * K)  # ∂C/∂log s = K
    grad[d + 1] = 0.5 * params.noise * np.trace(W)  # ∂C/∂log σ² = σ² I
    log_prior, grad_prior = prior.log_density(theta)
    return -(log_likelihood + log_prior), -(grad + grad_prior)


def fit_hyperparameters(
    X: np.ndarray,
    y: np.ndarray,
    is_categorical: np.ndarray,
    prior: Prior,
    warm_start: np.ndarray | None = None,
    restarts: bool = True,
) -> Hyperparameters:
    """MAP hyperparameters by L-BFGS-B with the analytic gradient.

    Starts from `warm_start` (the previous fit) and, with `restarts` or without a warm start, also from two
    fixed points: with few observations two basins are common, long lengthscales with much noise (the prior's
    mode) and short lengthscales with little noise, and a warm start alone can stay in the worse one.
    """
    d = X.shape[1]
    distances = TrainingDistances(X, is_categorical)
    bounds = [LOG_LENGTHSCALE_BOUNDS] * d + [LOG_SIGNAL_BOUNDS, LOG_NOISE_BOUNDS]
    wiggly = np.array([SHORT_LOG_LENGTHSCALE] * d + [0.0, SHORT_LOG_NOISE])
    starts = [] if warm_start is None else [warm_start]
    if restarts or warm_start is None:
        starts += [prior.mean.copy(), wiggly]
    best = None
    for start in starts:
        start = np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = scipy.optimize.minimize(
                _neg_log_posterior,
                start,
                args=(distances, y, prior),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": MAX_FIT_ITERATIONS, **FIT_TOLERANCES},
            )
        if best is None or result.fun < best.fun:
            best = result
    return Hyperparameters.from_theta(best.x)


class GaussianProcess:
    """The posterior given training data and fixed hyperparameters."""

    def __init__(self, X: np.ndarray, y: np.ndarray, params: Hyperparameters, is_categorical: np.ndarray) -> None:
        self.X, self.y, self.params, self.is_categorical = X, y, params, is_categorical
        K = matern52(X, X, params.inverse_sq_lengthscales, params.signal, is_categorical)
        self.L = cholesky(K + params.noise * np.eye(len(X)))
        self.alpha = scipy.linalg.cho_solve((self.L, True), y, check_finite=False)

    def condition_on(self, X_new: np.ndarray, y_new: np.ndarray) -> GaussianProcess:
        """The posterior with extra (fantasised) observations, same hyperparameters."""
        return GaussianProcess(
            np.vstack([self.X, X_new]), np.concatenate([self.y, y_new]), self.params, self.is_categorical
        )

    def mean(self, x: np.ndarray) -> np.ndarray:
        """Mean of f at x (m, d), shape (m,)."""
        params = self.params
        return matern52(x, self.X, params.inverse_sq_lengthscales, params.signal, self.is_categorical) @ self.alpha

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of f at x (m, d), each (m,)."""
        k = matern52(x, self.X, self.params.inverse_sq_lengthscales, self.params.signal, self.is_categorical)
        mean = k @ self.alpha
        v = scipy.linalg.solve_triangular(self.L, k.T, lower=True, check_finite=False)
        variance = np.maximum(self.params.signal - np.sum(v * v, axis=0), 1e-12)
        return mean, variance

    def posterior_with_gradients(
        self, x: np.ndarray, continuous: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance (m,) and their gradients (m, c) with respect to the continuous dimensions of x."""
        lam = self.params.inverse_sq_lengthscales
        k, dk_dr2 = matern52_from_r2(squared_distances(x, self.X, lam, self.is_categorical), self.params.signal)
        mean = k @ self.alpha
        beta = scipy.linalg.cho_solve((self.L, True), k.T, check_finite=False).T  # (m, n) = k C⁻¹
        variance = np.maximum(self.params.signal - np.sum(k * beta, axis=1), 1e-12)
        # ∂k(x, X_j)/∂x_c = dk/dr² · 2 λ_c (x_c − X_jc), so Σ_j w_j ∂k_j/∂x_c = 2 λ_c (x_c Σ_j w_j − Σ_j w_j X_jc):
        # two matrix products instead of an (m, n, c) tensor of differences.
        x_c, X_c, lam_c = x[:, continuous], self.X[:, continuous], 2.0 * lam[continuous]

        def weighted_gradient(w: np.ndarray) -> np.ndarray:  # Σ_j w_j ∂k_j/∂x, (m, c)
            return lam_c * (x_c * w.sum(axis=1)[:, None] - w @ X_c)

        grad_mean = weighted_gradient(dk_dr2 * self.alpha)
        grad_variance = -2.0 * weighted_gradient(dk_dr2 * beta)
        return mean, variance, grad_mean, grad_variance
