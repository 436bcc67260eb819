"""Priors on the GP hyperparameters, as normal densities over their logarithms (log-normal priors).

Lengthscales: ℓ_d ~ LogNormal(√2 + ½·log d, √3), the dimension-scaled prior of Hvarfner, Hellsten & Nardi
(2024), "Vanilla Bayesian Optimization Performs Great in High Dimensions" (ICML), §4: longer lengthscales as d
grows keep the model from treating every point as independent in high dimensions, the failure mode that makes
BO look worse than random search there.
Signal variance: s ~ LogNormal(0, 1) around 1, since outputs are standardised.
Noise variance: σ² ~ LogNormal(−4, 1.5) (median ≈ 0.018 of the output variance): training objectives are
noisy, but mostly less noisy than their spread across configurations; Hvarfner et al. use LogNormal(−4, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LENGTHSCALE_LOC = math.sqrt(2.0)
LENGTHSCALE_SCALE = math.sqrt(3.0)
SIGNAL_LOC, SIGNAL_SCALE = 0.0, 1.0
NOISE_LOC, NOISE_SCALE = -4.0, 1.5


@dataclass(frozen=True)
class Prior:
    """Means and standard deviations of the normal prior on θ = (log ℓ_1..d, log s, log σ²)."""

    mean: np.ndarray  # (d + 2,)
    std: np.ndarray  # (d + 2,)

    def log_density(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """log p(θ) up to a constant, and its gradient."""
        z = (theta - self.mean) / self.std
        return float(-0.5 * z @ z), -z / self.std


def default_prior(dim: int) -> Prior:
    """The prior for a `dim`-dimensional unit-cube input."""
    lengthscale_mean = LENGTHSCALE_LOC + 0.5 * math.log(max(dim, 1))
    mean = np.array([lengthscale_mean] * dim + [SIGNAL_LOC, NOISE_LOC])
    std = np.array([LENGTHSCALE_SCALE] * dim + [SIGNAL_SCALE, NOISE_SCALE])
    return Prior(mean, std)
