"""Matérn-5/2 kernel with one lengthscale per dimension (ARD) and Hamming distance for categoricals.

    r²(x, x') = Σ_cont λ_d (x_d − x'_d)² + Σ_cat λ_d 1[x_d ≠ x'_d],   λ_d = 1/ℓ_d²
    k(r)      = s · (1 + √5 r + 5/3 r²) · exp(−√5 r)
    dk/d(r²)  = −(5/6) · s · (1 + √5 r) · exp(−√5 r)          (finite at r = 0)

References: Rasmussen & Williams (2006), Gaussian Processes for Machine Learning, §4.2, eq. 4.17 (Matérn
ν = 5/2); the Hamming-distance treatment of categorical inputs follows Optuna's GPSampler and
Ru et al. (2020), "Bayesian Optimisation over Multiple Continuous and Categorical Inputs" (CoCaBO).

Shapes: x (m, d), X (n, d); pairwise tensors are (m, n) or (m, n, d).
"""

from __future__ import annotations

import numpy as np

SQRT5 = np.sqrt(5.0)


def squared_differences(x: np.ndarray, X: np.ndarray, is_categorical: np.ndarray) -> np.ndarray:
    """Per-dimension distances D (m, n, d): squared differences, or 0/1 mismatches for categoricals."""
    diff = x[:, None, :] - X[None, :, :]
    sq = diff * diff
    if is_categorical.any():
        sq[..., is_categorical] = (np.abs(diff[..., is_categorical]) > 0.5).astype(float)
    return sq


def matern52_from_r2(r2: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """k and dk/d(r²) for squared distances r² (any shape)."""
    r = np.sqrt(np.maximum(r2, 0.0))
    exp = np.exp(-SQRT5 * r)
    k = scale * (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * exp
    dk_dr2 = -(5.0 / 6.0) * scale * (1.0 + SQRT5 * r) * exp
    return k, dk_dr2


def matern52(
    x: np.ndarray, X: np.ndarray, inverse_sq_lengthscales: np.ndarray, scale: float, is_categorical: np.ndarray
) -> np.ndarray:
    """Kernel matrix k(x, X), shape (m, n)."""
    r2 = squared_differences(x, X, is_categorical) @ inverse_sq_lengthscales
    return matern52_from_r2(r2, scale)[0]
