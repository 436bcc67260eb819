"""The only place optflow touches Optuna's private API (Optuna 5.0), each use with the reason no public call serves.

Optuna 5.0 has no public way to read or write system attrs (`Study.set_system_attr` and `Trial.system_attrs`
are gone) or to name a running trial's storage row. Samplers need both, as Optuna's own samplers do: they keep
their bookkeeping in system attrs, out of the user attrs that optuna-dashboard shows to people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial


def _trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    # A trial's storage key: public methods only take a study and a trial *number*, and a number is unique
    # per study but storages are keyed by id.
    return trial._trial_id


def set_trial_system_attr(study: optuna.Study, trial: optuna.Trial | FrozenTrial, key: str, value: Any) -> None:
    """Store sampler or dashboard bookkeeping on a trial (a sampler only has the study and a FrozenTrial)."""
    study._storage.set_trial_system_attr(_trial_id(trial), key, value)


def trial_system_attrs(trial: optuna.Trial) -> dict[str, Any]:
    """A running trial's system attrs, e.g. the number of the dead worker's trial Optuna's retry copied."""
    return trial.storage.get_trial_system_attrs(_trial_id(trial))


def study_system_attrs(study: optuna.Study) -> dict[str, Any]:
    """The study's system attrs: optflow's markers and optuna-dashboard's notes live there."""
    return study._storage.get_study_system_attrs(study._study_id)


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    study._storage.set_study_system_attr(study._study_id, key, value)


def store_constraints(
    constraints_func: Callable[[FrozenTrial], Sequence[float]], study: optuna.Study, trial: FrozenTrial, state: Any
) -> None:
    """Evaluate a sampler's `constraints_func` on a finished trial and store the values where
    `FrozenTrial.constraints` reads them: Optuna's own helper, so the format and checks are its own."""
    from optuna.samplers._base import _process_constraints_after_trial

    _process_constraints_after_trial(constraints_func, study, trial, state)
