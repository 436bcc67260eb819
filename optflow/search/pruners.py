"""Pruners by name: what stops an unpromising trial early, judged on its per-epoch values.

Successive halving (Jamieson & Talwalkar 2016; ASHA, Li et al. 2020) and Hyperband (Li et al. 2018) are Optuna's,
with epochs as the resource. A trial reports step e after epoch e (0-based), so the rungs (steps 1, 3, 9, ...
with a reduction factor of 3) judge after 2, 4, 10, ... epochs; Hyperband's largest budget is the epochs (its
last step + 1, as Optuna's own "auto" takes it).
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

MaxEpochs = int | str  # the most epochs a trial runs, or "auto" (Optuna infers it from the first complete trial)

PRUNERS: dict[str, Callable[[MaxEpochs], optuna.pruners.BasePruner]] = {
    "none": lambda max_epochs: optuna.pruners.NopPruner(),
    # Wait for 5 finished trials and 5 epochs before comparing: early epochs of SGD are noisy.
    "median": lambda max_epochs: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
    # Rungs at steps 1, 3, 9, ...; a third of the trials at each rung go on.
    "sha": lambda max_epochs: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    "hyperband": lambda max_epochs: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=max_epochs, reduction_factor=3
    ),
}


def make_pruner(name: str, max_epochs: MaxEpochs = "auto") -> optuna.pruners.BasePruner:
    """The named pruner, for trials of at most `max_epochs` epochs."""
    return PRUNERS[name](max_epochs)
