"""Seeds drawn per trial, so workers sharing a study never draw the same random numbers at the same time.

A sampler seeded once per process repeats itself across workers: two workers with seed 0 propose the same
first point. Seeding from (seed, trial number) instead gives every trial its own stream, and the study the
same trials whatever the number of workers, threads or restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState


def trial_seed(seed: int | None, trial_number: int) -> int | None:
    """A 32-bit seed for one trial of a study seeded with `seed` (None stays None: unseeded)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, trial_number]).generate_state(1)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Builds a fresh inner sampler for each trial, seeded with `trial_seed(seed, trial.number)`.

    Only for samplers whose state between trials is their random generator (random search, TPE): they
    read the study's history afresh each trial.
    """

    def __init__(self, factory: Callable[[int | None], optuna.samplers.BaseSampler], seed: int | None) -> None:
        self._factory = factory
        self._seed = seed
        self._samplers: dict[int, optuna.samplers.BaseSampler] = {}
        self._lock = threading.Lock()  # n_jobs > 1 threads share one sampler

    def _sampler(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        with self._lock:
            if trial.number not in self._samplers:
                self._samplers[trial.number] = self._factory(trial_seed(self._seed, trial.number))
            return self._samplers[trial.number]

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._sampler(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler(trial).before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._sampler(trial).after_trial(study, trial, state, values)
        with self._lock:
            self._samplers.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Nothing: each trial's seed comes from its number."""
