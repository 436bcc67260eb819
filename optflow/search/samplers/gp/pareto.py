"""Pareto fronts, hypervolumes and the box decomposition of the region no point dominates (maximisation).

Everything here maximises: a point p dominates y when p ≥ y in every objective and p ≠ y. The reference point
r bounds the hypervolume from below. Two or three objectives are the use (fronts of tens of points), so the
plain slab recursion below is fast enough: O(k^(M−1)) boxes for k points in M objectives, exact.
"""

from __future__ import annotations

import numpy as np


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask (n,) of the points (n, M) no other point dominates; of equal points the first is kept."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        others = points[np.arange(n) != i]
        dominated = np.all(others >= points[i], axis=1) & np.any(others > points[i], axis=1)
        duplicate_before = np.all(points[:i] == points[i], axis=1).any()
        keep[i] = not dominated.any() and not duplicate_before
    return keep


def hypervolume(front: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by `front` (k, M) and above `reference` (M,), by slabs along the last objective."""
    front = front[np.all(front > reference, axis=1)]
    if len(front) == 0:
        return 0.0
    if front.shape[1] == 1:
        return float(front[:, 0].max() - reference[0])
    if front.shape[1] == 2:  # a sweep: sorted by the first objective, the second's running maximum
        order = np.argsort(-front[:, 0], kind="stable")
        x, height = front[order, 0], np.maximum.accumulate(front[order, 1])
        widths = x - np.append(x[1:], reference[0])
        return float(np.sum(widths * (height - reference[1])))
    levels = np.unique(front[:, -1])[::-1]  # descending
    volume = 0.0
    for i, level in enumerate(levels):
        below = levels[i + 1] if i + 1 < len(levels) else reference[-1]
        volume += (level - below) * hypervolume(front[front[:, -1] >= level, :-1], reference[:-1])
    return volume


def non_dominated_boxes(front: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint boxes (lower, upper), each (B, M), covering the points above `reference` that no point of
    `front` (k, M) dominates; upper bounds may be +inf. The hypervolume improvement of a point y is then
    Σ_b Π_j max(0, min(y_j, upper_bj) − lower_bj)."""
    front = front[np.all(front > reference, axis=1)]
    M = len(reference)
    if M == 1:
        low = front[:, 0].max() if len(front) else reference[0]
        return np.array([[low]]), np.array([[np.inf]])
    levels = np.unique(front[:, -1]) if len(front) else np.empty(0)
    edges = np.concatenate([[reference[-1]], levels, [np.inf]])
    lowers, uppers = [], []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        # y with y_M in (low, high] is dominated only by points with p_M ≥ high: a front of M − 1 objectives.
        lower, upper = non_dominated_boxes(front[front[:, -1] >= high, :-1], reference[:-1])
        lowers.append(np.hstack([lower, np.full((len(lower), 1), low)]))
        uppers.append(np.hstack([upper, np.full((len(upper), 1), high)]))
    return np.vstack(lowers), np.vstack(uppers)
