"""Log expected improvement, numerically stable far into the tail (acquisition for maximisation).

    EI(x)    = σ · h(z),  z = (μ(x) − y*) / σ,  h(z) = φ(z) + z Φ(z)
    log h(z) = log(φ(z) + z Φ(z))                                    z > −1
             = −z²/2 − c₁ + log1mexp(log(erfcx(−z/√2)·|z|) + c₂)      −1/√ε < z ≤ −1
             = −z²/2 − c₁ − 2 log|z|                                 z ≤ −1/√ε
    c₁ = ½ log 2π,  c₂ = ½ log(π/2),  d log h / dz = Φ(z) / h(z)

Reference: Ament, Daulton, Eriksson, Balandat & Bakshy (2023), "Unexpected Improvements to Expected
Improvement for Bayesian Optimization" (NeurIPS), eq. 9 and appendix A. Plain EI underflows to exactly 0 for
z below about −38, which leaves the optimiser with a flat surface; log h stays finite and informative.

Noise: the incumbent y* is the best posterior mean at the observed points rather than the best noisy
observation, so one lucky evaluation does not freeze the search (the "plug-in" noisy EI).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from scipy.special import erfcx, log_ndtr

C1 = 0.5 * math.log(2 * math.pi)
C2 = 0.5 * math.log(math.pi / 2)
TAIL = -1.0 / math.sqrt(np.finfo(float).eps)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 − eˣ) for x < 0, accurate on both sides of −log 2 (Mächler 2012)."""
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """log(φ(z) + z Φ(z)), finite for every finite z."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - C1) + zu * np.exp(log_ndtr(zu)))
    middle = (~upper) & (z > TAIL)
    zm = z[middle]
    out[middle] = -0.5 * zm * zm - C1 + _log1mexp(np.log(erfcx(-zm / math.sqrt(2)) * np.abs(zm)) + C2)
    tail = z <= TAIL
    zt = z[tail]
    out[tail] = -0.5 * zt * zt - C1 - 2.0 * np.log(np.abs(zt))
    return out


def log_ei(mean: np.ndarray, variance: np.ndarray, best: float) -> np.ndarray:
    """log EI for each point (maximisation)."""
    sigma = np.sqrt(variance)
    return log_h((mean - best) / sigma) + np.log(sigma)


def log_ei_with_gradient(
    mean: np.ndarray, variance: np.ndarray, grad_mean: np.ndarray, grad_variance: np.ndarray, best: float
) -> tuple[np.ndarray, np.ndarray]:
    """log EI (m,) and its gradient (m, c) from the posterior and its gradients."""
    sigma = np.sqrt(variance)
    z = (mean - best) / sigma
    value = log_h(z)
    dlogh_dz = np.exp(log_ndtr(z) - value)  # Φ(z) / h(z)
    grad_sigma = grad_variance / (2.0 * sigma[:, None])
    grad_z = grad_mean / sigma[:, None] - (z / sigma)[:, None] * grad_sigma
    return value + np.log(sigma), dlogh_dz[:, None] * grad_z + grad_sigma / sigma[:, None]


class Acquisition(Protocol):
    """What `optim.maximize` maximises: a log acquisition over model inputs, with gradients along the
    continuous dimensions (`continuous`, a bool mask over the input's columns)."""

    def __call__(self, x: np.ndarray) -> np.ndarray: ...

    def with_gradient(self, x: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class LogEI:
    """log EI of a fitted GP posterior against the incumbent `best` (both in the GP's output units)."""

    def __init__(self, gp, best: float) -> None:
        self.gp, self.best = gp, best

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Values at x (m, d)."""
        mean, variance = self.gp.posterior(x)
        return log_ei(mean, variance, self.best)

    def with_gradient(self, x: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (m,) and gradients (m, c) with respect to the continuous dimensions."""
        return log_ei_with_gradient(*self.gp.posterior_with_gradients(x, continuous), self.best)


def _log_phi(z: np.ndarray) -> np.ndarray:
    return -0.5 * z * z - C1


class LogPoF:
    """log probability that every constraint is satisfied, Σ_i log Φ((t_i − μ_i(x)) / σ_i(x)), one GP per
    constraint fitted on its values (feasible at or below the threshold t_i, in the GP's output units).

    Gardner, Kusner, Xu, Weinberger & Cunningham (2014), "Bayesian Optimization with Inequality Constraints"
    (ICML): constraints modelled by independent GPs, the acquisition weighted by the probability of
    feasibility; summed in log space here, as Optuna's GPSampler does with log EI.
    """

    def __init__(self, gps, thresholds: np.ndarray) -> None:
        self.gps, self.thresholds = gps, np.asarray(thresholds, dtype=float)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        total = np.zeros(len(x))
        for gp, threshold in zip(self.gps, self.thresholds, strict=True):
            mean, variance = gp.posterior(x)
            total += log_ndtr((threshold - mean) / np.sqrt(variance))
        return total

    def with_gradient(self, x: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total, gradient = np.zeros(len(x)), np.zeros((len(x), int(continuous.sum())))
        for gp, threshold in zip(self.gps, self.thresholds, strict=True):
            mean, variance, grad_mean, grad_variance = gp.posterior_with_gradients(x, continuous)
            sigma = np.sqrt(variance)
            z = (threshold - mean) / sigma
            log_cdf = log_ndtr(z)
            ratio = np.exp(_log_phi(z) - log_cdf)  # d log Φ / dz
            # dz/dμ = −1/σ, dz/dv = −z/(2v)
            gradient += ratio[:, None] * (-grad_mean / sigma[:, None] - (z / (2 * variance))[:, None] * grad_variance)
            total += log_cdf
        return total, gradient


class SumOf:
    """The sum of log acquisitions (e.g. log EI + log probability of feasibility)."""

    def __init__(self, *terms: Acquisition) -> None:
        self.terms = terms

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return sum(term(x) for term in self.terms)

    def with_gradient(self, x: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [term.with_gradient(x, continuous) for term in self.terms]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
