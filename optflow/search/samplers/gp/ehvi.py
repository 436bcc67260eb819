"""Log expected hypervolume improvement (several objectives, maximised), by quasi-Monte Carlo.

    HVI(y)      = Σ_b Π_j [min(y_j, u_bj) − l_bj]₊          boxes b of the region the front does not dominate
    EHVI(x)     = E[HVI(f(x))],   f_j(x) ~ N(μ_j(x), σ_j²(x)) independent (one GP per objective)
    log EHVI(x) ≈ logsumexp_s log HVI_τ(μ + σ ⊙ ξ_s) − log S,    ξ_s fixed scrambled-Sobol normal samples
    log HVI_τ   = logsumexp_b Σ_j log(τ · softplus((min(y_j, u_bj) − l_bj) / τ))

References: Daulton, Balandat & Bakshy (2020), "Differentiable Expected Hypervolume Improvement for Parallel
Multi-Objective Bayesian Optimization" (NeurIPS): the box decomposition and the reparameterised Monte Carlo
estimate with fixed base samples, which makes the acquisition a smooth deterministic function of x; Ament,
Daulton, Eriksson, Balandat & Bakshy (2023), "Unexpected Improvements to Expected Improvement for Bayesian
Optimization" (NeurIPS), §4.2: the [·]₊ replaced by a τ-softplus and everything kept in log space, so that
points far from improving still have an informative gradient (plain EHVI is exactly 0 there). τ = 1e-3 of the
standardised outputs' unit.

Gradients: the estimate is written in torch on the posterior means and variances only (m × M numbers), and
its derivatives with respect to them are chained by hand through each GP's posterior gradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import ndtri
from scipy.stats import qmc

from optflow.search.samplers.gp.pareto import non_dominated_boxes

TAU = 1e-3
N_SAMPLES = 128  # base samples; a power of two keeps the Sobol sequence balanced
CHUNK_ELEMENTS = 2_000_000  # candidates · samples · boxes · objectives evaluated at once (bounds memory)
LOG_SOFTPLUS_LINEAR_BELOW = -30.0  # log softplus(z) = z to double precision below this


def base_samples(n_objectives: int, rng: np.random.RandomState, n: int = N_SAMPLES) -> np.ndarray:
    """Fixed standard-normal quasi-random samples (n, M)."""
    uniform = qmc.Sobol(n_objectives, scramble=True, seed=rng.randint(2**31)).random(n)
    return ndtri(np.clip(uniform, 1e-10, 1 - 1e-10))


def _log_softplus(z: torch.Tensor) -> torch.Tensor:
    linear = z < LOG_SOFTPLUS_LINEAR_BELOW
    safe = torch.where(linear, torch.zeros_like(z), z)  # keeps the unused branch's gradient finite
    return torch.where(linear, z, torch.log(torch.nn.functional.softplus(safe)))


def posteriors(gps, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (m, K) of K GPs at x (m, d)."""
    pairs = [gp.posterior(x) for gp in gps]
    return np.stack([p[0] for p in pairs], axis=1), np.stack([p[1] for p in pairs], axis=1)


def posteriors_with_gradients(gps, x: np.ndarray, continuous: np.ndarray):
    """Means, variances (m, K) and their gradients (m, K, c) along the continuous dimensions."""
    parts = [gp.posterior_with_gradients(x, continuous) for gp in gps]
    return tuple(np.stack([p[i] for p in parts], axis=1) for i in range(4))


class LogEHVI:
    """log EHVI of independent GPs, one per objective, over the Pareto front `front` (k, M) above `reference`."""

    def __init__(self, gps, front: np.ndarray, reference: np.ndarray, samples: np.ndarray) -> None:
        self.gps = gps
        lower, upper = non_dominated_boxes(front, reference)
        self.lower, self.upper = torch.from_numpy(lower), torch.from_numpy(upper)
        self.samples = torch.from_numpy(samples)
        per_candidate = len(samples) * len(lower) * len(reference)
        self.chunk = max(1, CHUNK_ELEMENTS // per_candidate)

    def log_ehvi(self, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """(m,) from posterior means and variances (m, M)."""
        y = mean[:, None, :] + variance.sqrt()[:, None, :] * self.samples[None, :, :]  # (m, S, M)
        extent = torch.minimum(y[:, :, None, :], self.upper) - self.lower  # (m, S, B, M)
        log_volume = (_log_softplus(extent / TAU) + math.log(TAU)).sum(dim=-1)  # (m, S, B)
        log_hvi = torch.logsumexp(log_volume, dim=-1)  # (m, S)
        return torch.logsumexp(log_hvi, dim=-1) - math.log(len(self.samples))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(x), self.chunk):
            mean, variance = posteriors(self.gps, x[start : start + self.chunk])
            with torch.no_grad():
                out.append(self.log_ehvi(torch.from_numpy(mean), torch.from_numpy(variance)).numpy())
        return np.concatenate(out) if out else np.empty(0)

    def with_gradient(self, x: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (m,) and gradients (m, c) along the continuous dimensions."""
        values, gradients = [], []
        for start in range(0, len(x), self.chunk):
            mean, variance, grad_mean, grad_variance = posteriors_with_gradients(
                self.gps, x[start : start + self.chunk], continuous
            )
            mean_t = torch.from_numpy(mean).requires_grad_(True)
            variance_t = torch.from_numpy(variance).requires_grad_(True)
            value = self.log_ehvi(mean_t, variance_t)
            d_mean, d_variance = torch.autograd.grad(value.sum(), (mean_t, variance_t))
            values.append(value.detach().numpy())
            gradients.append(
                np.einsum("mk,mkc->mc", d_mean.numpy(), grad_mean)
                + np.einsum("mk,mkc->mc", d_variance.numpy(), grad_variance)
            )
        return np.concatenate(values), np.concatenate(gradients)
