"""The only place optflow touches Optuna's private API or its system attrs, each use with the reason no public
call serves (checked on Optuna 5.0 and 5.1).

Optuna 5 has no public way to write system attrs (`Study.set_system_attr` and `Trial.system_attrs` are gone)
or to name a running trial's storage row. Samplers need both, as Optuna's own samplers do: they keep their
bookkeeping in system attrs, out of the user attrs that optuna-dashboard shows to people. Reading a finished
trial's system attrs is public (`FrozenTrial.system_attrs`), but it is done here too, so that one module holds
every key optflow reads of Optuna's bookkeeping.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial

# The system attr in which `Study.enqueue_trial` keeps a queued trial's params (Optuna 5.1, `Study.enqueue_trial`
# and `Trial.__init__`).
_ENQUEUED_PARAMS = "fixed_params"


def _trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    # A trial's storage key: public methods only take a study and a trial *number*, and a number is unique
    # per study but storages are keyed by id.
    return trial._trial_id


def set_trial_system_attr(study: optuna.Study, trial: optuna.Trial | FrozenTrial, key: str, value: Any) -> None:
    """Store sampler or dashboard bookkeeping on a trial (a sampler only has the study and a FrozenTrial)."""
    study._storage.set_trial_system_attr(_trial_id(trial), key, value)


def trial_system_attrs(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's system attrs as a sampler sees it: the bookkeeping samplers keep (a grid point, a proposal)."""
    return trial.system_attrs


def enqueued_params(trial: FrozenTrial) -> dict[str, Any] | None:
    """The params `Study.enqueue_trial` gave a queued trial, or None: no public call reads them before the trial
    suggests them, and a sampler's `before_trial` needs them earlier."""
    return trial.system_attrs.get(_ENQUEUED_PARAMS)


def retried_trial_number(trial: optuna.Trial | FrozenTrial) -> int | None:
    """The number of the dead worker's trial that this one retries (Optuna's heartbeat retry made it), or None.

    Optuna's public `retried_trial_number` takes a FrozenTrial; a running trial's is read from its storage row.
    """
    frozen = trial if isinstance(trial, FrozenTrial) else trial.storage.get_trial(_trial_id(trial))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable in use since 2.8
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)


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
