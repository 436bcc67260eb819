"""Which trials are best, for one objective or several, with or without constraints.

One objective: the best complete, feasible trial. Several: the Pareto front of the complete, feasible trials
(Optuna's `best_trials`), and as "the best trial" where one is needed (best config, the study run's link,
the kept checkpoint) the front's best on the first objective, `study.metric`. A trial that breaks a
constraint is never best; `Study.best_trial` does not know constraints for one objective, hence this module.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState


def first_value(trial: FrozenTrial) -> float:
    """The trial's value of the first objective (`FrozenTrial.value` raises for several)."""
    return trial.values[0]


def is_feasible(trial: FrozenTrial) -> bool:
    return all(value <= 0.0 for value in trial.constraints.values())


def maximizes_first(study: optuna.Study) -> bool:
    return study.directions[0] == StudyDirection.MAXIMIZE


def _best_first(study: optuna.Study) -> Callable[[FrozenTrial], tuple]:
    """A sort key: feasible first, then by the first objective, ties by the next ones, then by number. The
    lexicographic best of several objectives is on the Pareto front, so "the best trial" is always one of it."""
    signs = [-1.0 if direction == StudyDirection.MAXIMIZE else 1.0 for direction in study.directions]

    def key(trial: FrozenTrial) -> tuple:
        signed = (sign * value for sign, value in zip(signs, trial.values, strict=True))
        return (not is_feasible(trial), *signed, trial.number)

    return key


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials, feasible ones first, each group by the first objective (ties by the next), best first."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(complete, key=_best_first(study))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete, feasible trial by the first objective; None when there is none."""
    trials = ranked(study)
    return trials[0] if trials and is_feasible(trials[0]) else None


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto-optimal complete, feasible trials, best first objective first (one objective: the best); the
    first is `best_trial`."""
    if len(study.directions) == 1:
        best = best_trial(study)
        return [best] if best is not None else []
    front = [t for t in study.best_trials if is_feasible(t)]
    return sorted(front, key=_best_first(study))
