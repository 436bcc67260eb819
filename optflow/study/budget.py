"""The trial budget of a study and which trials spend it, shared by the run loop and the grid sampler."""

from __future__ import annotations

from collections.abc import Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

from optflow.config import Config
from optflow.contract import ATTR_FAIL_REASON
from optflow.search.space import grid_size

_SPENDING = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def budget(config: Config) -> int:
    """Trials the study runs in all: n_trials, or the grid size for the grid sampler if smaller."""
    if config.study.sampler == "grid":
        return min(config.study.n_trials, grid_size(config.search))
    return config.study.n_trials


def spends_budget(trial: FrozenTrial) -> bool:
    """Finished, running and queued trials count; not those lost to a dead worker or an interrupt.

    A trial failed by the heartbeat or by Ctrl-C carries no fail-reason attr: it is retried or run again.
    """
    return trial.state in _SPENDING or (trial.state == TrialState.FAIL and ATTR_FAIL_REASON in trial.user_attrs)


def trials_used(trials: Iterable[FrozenTrial]) -> int:
    return sum(1 for trial in trials if spends_budget(trial))


def in_flight(trials: Iterable[FrozenTrial]) -> bool:
    """Whether some worker runs a trial or one waits to run (a retry): the study is not over yet."""
    return any(trial.state in (TrialState.RUNNING, TrialState.WAITING) for trial in trials)


def study_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False)
