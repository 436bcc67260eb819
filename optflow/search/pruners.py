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

MEDIAN_WARMUP_STEPS = 5  # early epochs of SGD are noisy: the median judges from step 5 (after 6 epochs) on
RUNG_STEP = 1  # successive halving's and Hyperband's first rung (min_resource=1): step 1, after 2 epochs

PRUNERS: dict[str, Callable[[MaxEpochs], optuna.pruners.BasePruner]] = {
    "none": lambda max_epochs: optuna.pruners.NopPruner(),
    # Wait for 5 finished trials and 5 epochs before comparing.
    "median": lambda max_epochs: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=MEDIAN_WARMUP_STEPS),
    # Rungs at steps 1, 3, 9, ...; a third of the trials at each rung go on.
    "sha": lambda max_epochs: optuna.pruners.SuccessiveHalvingPruner(min_resource=RUNG_STEP, reduction_factor=3),
    "hyperband": lambda max_epochs: optuna.pruners.HyperbandPruner(
        min_resource=RUNG_STEP, max_resource=max_epochs, reduction_factor=3
    ),
}

# The fewest epochs after which each pruner can stop a trial: its first judged step + 1 (Optuna's
# `PercentilePruner.prune` returns False while step < n_warmup_steps; a rung needs step >= min_resource).
EPOCHS_TO_PRUNE: dict[str, int] = {"median": MEDIAN_WARMUP_STEPS + 1, "sha": RUNG_STEP + 1, "hyperband": RUNG_STEP + 1}


def idle_pruner(name: str, max_epochs: MaxEpochs) -> str | None:
    """Why the named pruner can never stop a trial of at most `max_epochs` epochs, with what to change; None when
    it can (or when the epochs are not known before the trials run)."""
    needed = EPOCHS_TO_PRUNE.get(name)
    if needed is None or not isinstance(max_epochs, int) or max_epochs >= needed:
        return None
    other = (
        " or sha (it first prunes after 2 epochs)" if name == "median" and max_epochs >= EPOCHS_TO_PRUNE["sha"] else ""
    )
    epochs = f"{max_epochs} epoch{'s' if max_epochs != 1 else ''}"
    return (
        f"study.pruner {name} cannot prune with {epochs}: it first stops a trial after epoch {needed}; "
        f"set training.epochs to {needed} or more, or study.pruner none{other}"
    )


def make_pruner(name: str, max_epochs: MaxEpochs = "auto") -> optuna.pruners.BasePruner:
    """The named pruner, for trials of at most `max_epochs` epochs."""
    return PRUNERS[name](max_epochs)
