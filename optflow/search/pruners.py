"""Pruners by name: what stops an unpromising trial early, judged on its per-epoch values."""

from __future__ import annotations

from collections.abc import Callable

import optuna

PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    # Wait for 5 finished trials and 5 epochs before comparing: early epochs of SGD are noisy.
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
}


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The named pruner."""
    return PRUNERS[name]()
