"""Log expected hypervolume improvement (several objectives, maximised), exact and in log space.

    HVI(y)  = Σ_b Π_j [min(y_j, u_bj) − l_bj]₊         boxes b of the region the front does not dominate
    EHVI(x) = E[HVI(f(x))],  f_j(x) ~ N(μ_j, σ_j²) independent (one GP per objective)
            = Σ_b Π_j A_bj,  A_bj = E[(y_j − l_bj)₊] − E[(y_j − u_bj)₊] = σ_j (h(z_bjl) − h(z_bju))

with z_bjl = (μ_j − l_bj)/σ_j, z_bju = (μ_j − u_bj)/σ_j and h(z) = φ(z) + zΦ(z), the function of EI: the
expectation of a product of independent factors is the product of their expectations, and [min(y, u) − l]₊ =
(y − l)₊ − (y − u)₊ for l ≤ u. So for independent GPs EHVI needs no Monte Carlo: Yang, Emmerich, Deutz & Bäck
(2019), "Efficient Computation of Expected Hypervolume Improvement Using Box Decomposition Algorithms" (J.
Global Optimization); the boxes are those of Daulton, Balandat & Bakshy (2020) (`pareto.non_dominated_boxes`).
Everything is kept in log space, log A = log σ + log h(z_l) + log(1 − h(z_u)/h(z_l)) with `acqf.log_h`, and
the boxes are summed by logsumexp: the point of Ament et al. (2023), "Unexpected Improvements to Expected
Improvement for Bayesian Optimization" (NeurIPS), for EHVI as for EI, so that candidates far from improving
still get an informative value and gradient instead of an exact 0.

Gradients, per box and objective (h' = Φ, h − zΦ = φ):
    ∂A/∂μ = Φ(z_l) − Φ(z_u),    ∂A/∂σ = φ(z_l) − φ(z_u)
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, logsumexp

from optflow.search.samplers.gp.acqf import C1, _log1mexp, log_h
from optflow.search.samplers.gp.pareto import non_dominated_boxes

CHUNK_ELEMENTS = 4_000_000  # candidates · boxes · objectives evaluated at once (bounds memory)


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

    def __init__(self, gps, front: np.ndarray, reference: np.ndarray) -> None:
        self.gps = gps
        lower, upper = non_dominated_boxes(front, reference)
        keep = np.all(upper > lower, axis=1)  # boxes of zero width add nothing
        self.lower, self.upper = lower[keep], upper[keep]
        self.finite = np.isfinite(self.upper)
        self.chunk = max(1, CHUNK_ELEMENTS // self.lower.size)

    def _terms(self, mean: np.ndarray, variance: np.ndarray, gradients: bool):
        """log A (m, B, M) and, with `gradients`, ∂ log A/∂μ and ∂ log A/∂σ (m, B, M)."""
        std = np.sqrt(variance)[:, None, :]
        mean = mean[:, None, :]
        z_low = (mean - self.lower) / std
        z_up = np.where(self.finite, (mean - np.where(self.finite, self.upper, 0.0)) / std, 0.0)
        log_h_low = log_h(z_low)
        log_h_up = np.where(self.finite, log_h(z_up), -np.inf)
        with np.errstate(divide="ignore"):
            log_a = np.log(std) + log_h_low + _log1mexp(np.minimum(log_h_up - log_h_low, -1e-300))
        if not gradients:
            return log_a, None, None

        def ratio(log_numerator: np.ndarray) -> np.ndarray:  # numerator / A, from logs
            return np.exp(log_numerator - log_a)

        log_phi_low, log_phi_up = -0.5 * z_low**2 - C1, np.where(self.finite, -0.5 * z_up**2 - C1, -np.inf)
        d_mean = ratio(log_ndtr(z_low)) - ratio(np.where(self.finite, log_ndtr(z_up), -np.inf))
        d_std = ratio(log_phi_low) - ratio(log_phi_up)
        return log_a, d_mean, d_std

    def _log_ehvi(self, mean: np.ndarray, variance: np.ndarray, gradients: bool):
        log_a, d_mean, d_std = self._terms(mean, variance, gradients)
        log_volume = log_a.sum(axis=2)  # (m, B)
        value = logsumexp(log_volume, axis=1)
        if not gradients:
            return value, None, None
        weights = np.exp(log_volume - value[:, None])[:, :, None]  # softmax over the boxes
        std = np.sqrt(variance)
        return value, (weights * d_mean).sum(axis=1), (weights * d_std).sum(axis=1) / (2.0 * std)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = [
            self._log_ehvi(*posteriors(self.gps, x[i : i + self.chunk]), False)[0] for i in range(0, len(x), self.chunk)
        ]
        return np.concatenate(out) if out else np.empty(0)

    def with_gradient(self, x: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (m,) and gradients (m, c) along the continuous dimensions."""
        values, gradients = [], []
        for start in range(0, len(x), self.chunk):
            mean, variance, grad_mean, grad_variance = posteriors_with_gradients(
                self.gps, x[start : start + self.chunk], continuous
            )
            value, d_mean, d_variance = self._log_ehvi(mean, variance, True)
            values.append(value)
            gradients.append(
                np.einsum("mk,mkc->mc", d_mean, grad_mean) + np.einsum("mk,mkc->mc", d_variance, grad_variance)
            )
        return np.concatenate(values), np.concatenate(gradients)
