"""The GP's outputs: objective values made comparable (outliers clipped, standardised, power-transformed).

Outputs are turned to "higher is better" by the caller, standardised, passed through a Yeo-Johnson power
transform (HEBO, Cowen-Rivers et al. 2022) so that a few diverging, huge losses do not flatten the model
everywhere else, and standardised again. Every step is monotone, so the order of the values, and with it which
trials are Pareto-optimal, is kept.
"""

from __future__ import annotations

import numpy as np

OUTLIER_IQRS = 3.0  # Tukey's "far out" fence: neutral on sampler_bench's functions, see docs/benchmarks.md
YEO_JOHNSON_LAMBDAS = np.linspace(-2.0, 4.0, 61)  # grid for the power; scipy's Brent search took 17 ms a call


def yeo_johnson(z: np.ndarray, lmbda: np.ndarray) -> np.ndarray:
    """Yeo & Johnson (2000), eq. 2.1, for every λ at once: shape (len(λ), len(z))."""
    lmbda = lmbda[:, None]
    positive = z >= 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pos = np.where(np.abs(lmbda) < 1e-8, np.log1p(z), (np.power(1 + z, lmbda) - 1) / lmbda)
        neg = np.where(np.abs(lmbda - 2) < 1e-8, -np.log1p(-z), -(np.power(1 - z, 2 - lmbda) - 1) / (2 - lmbda))
    return np.where(positive, pos, neg)


def transform_outputs(values: np.ndarray) -> np.ndarray:
    """Clip outliers, standardise, Yeo-Johnson with the maximum-likelihood power, standardise again.

    The clip (quartiles ± 3 interquartile ranges) matters for training objectives: one diverging trial with a
    loss 500x the others made the power transform squash every other value together, and the GP then saw a
    flat function with one dip and proposed corners of the space. All-equal values become zeros.
    """
    q1, q3 = np.percentile(values, [25, 75])
    spread = OUTLIER_IQRS * (q3 - q1)
    if spread > 0:
        values = np.clip(values, q1 - spread, q3 + spread)
    std = values.std()
    if not np.isfinite(std) or std < 1e-12:
        return np.zeros_like(values)
    z = (values - values.mean()) / std
    if len(z) >= 3:
        candidates = yeo_johnson(z, YEO_JOHNSON_LAMBDAS)  # (λ, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Profile log-likelihood of λ under a normal model (Yeo & Johnson 2000, §3).
            log_likelihood = -0.5 * len(z) * np.log(candidates.var(axis=1)) + (
                (YEO_JOHNSON_LAMBDAS - 1) * np.sum(np.sign(z) * np.log1p(np.abs(z)))
            )
        log_likelihood[~np.isfinite(log_likelihood)] = -np.inf
        best = candidates[int(np.argmax(log_likelihood))]
        if np.all(np.isfinite(best)) and best.std() > 1e-12:
            z = best
    return (z - z.mean()) / z.std()


def standardise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(values − mean) / std and the two numbers (constraints: their threshold 0 must move along)."""
    mean, std = float(values.mean()), float(values.std())
    std = std if np.isfinite(std) and std > 1e-12 else 1.0
    return (values - mean) / std, mean, std
