"""What a study gives back: its best trial and params, its trials in order of value, where its runs are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from optflow.config import Config
from optflow.contract import ATTR_FAIL_REASON
from optflow.search.ranking import best_trial, first_value, is_feasible, pareto_trials, ranked
from optflow.study.budget import budget, in_flight, study_trials, trials_used
from optflow.tracking.dashboard import artifact_dir
from optflow.urls import mask_password

TOP_TRIALS = 5  # trials listed in `StudyResult.top_trials`, best first


@dataclass(frozen=True)
class StudyResult:
    """What a finished session of a study gives back to its caller."""

    study_name: str
    n_trials: int  # every trial the storage holds, those run again after an interrupt included
    n_complete: int
    best_value: float | None
    best_params: dict[str, Any]
    study_run_id: str | None
    tracking_uri: str | None  # password masked
    seconds_per_trial: float
    top_trials: list[tuple[int, float, dict[str, Any]]] = field(default_factory=list)  # (number, value, params)
    budget_spent: bool = True  # every trial of the budget ended (not so when workers died or were stopped)
    budget: int = 0  # trials the study runs in all
    n_pruned: int = 0
    n_failed: int = 0  # failed by themselves (diverged, errors), not lost to an interrupt
    n_used: int = 0  # trials that count against the budget (`trials_used`)
    n_rerun: int = 0  # trials interrupted or lost to a dead worker: they spent nothing and were run again
    already_spent: bool = False  # the budget was spent before this session: it ran nothing
    unlogged_runs: int = 0  # this session's trials whose MLflow runs could not be (completely) logged
    model_uri: str | None = None  # the best model (`models:/m-...`), when one was logged and could be found
    experiment_id: str | None = None  # the MLflow experiment of the study run
    storage: str = ""  # the Optuna storage URL, password masked
    artifact_dir: str = ""  # the Optuna artifact store (trial loss curves for optuna-dashboard)
    best_config: str | None = None  # a local copy of the best trial's resolved config, to replay
    objectives: list[str] = field(default_factory=list)  # with several: their names, `metric` first
    pareto: list[tuple[int, tuple[float, ...], dict[str, Any]]] = field(
        default_factory=list
    )  # (number, values, params)


def write_best_config(study: optuna.Study, config: Config, directory: Path) -> str | None:
    """Write the best trial's resolved config to `directory/<study>/best_config.yaml`; its path, or None when no
    trial completed or the file cannot be written."""
    best = best_trial(study)
    if best is None:
        return None
    path = directory / config.study.name / "best_config.yaml"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config.best_trial_yaml(best.number, first_value(best), best.params))
    except OSError:
        return None
    return str(path)


def study_result(
    study: optuna.Study,
    config: Config,
    study_run_id: str | None,
    tracking_uri: str | None,
    seconds: Sequence[float],
    experiment_id: str | None = None,
) -> StudyResult:
    """The study's result as its storage holds it now; `seconds` are the trial durations to average. The best
    trial's config is written beside the study's Optuna artifacts."""
    directory = artifact_dir(config.study.storage, config.study.artifact_dir)
    trials = study_trials(study)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL and ATTR_FAIL_REASON in t.user_attrs]
    used = trials_used(trials)
    best = best_trial(study)
    several = config.study.multi_objective
    return StudyResult(
        study_name=config.study.name,
        n_trials=len(trials),
        n_complete=len(complete),
        best_value=first_value(best) if best else None,
        best_params=dict(best.params) if best else {},
        study_run_id=study_run_id,
        tracking_uri=mask_password(tracking_uri) if tracking_uri else None,
        seconds_per_trial=sum(seconds) / max(1, len(seconds)),
        top_trials=[(t.number, first_value(t), dict(t.params)) for t in ranked(study) if is_feasible(t)][:TOP_TRIALS],
        budget_spent=used >= budget(config) and not in_flight(trials),
        budget=budget(config),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        n_failed=len(failed),
        n_used=used,
        n_rerun=len(trials) - used,
        experiment_id=experiment_id,
        storage=mask_password(config.study.storage),
        artifact_dir=str(directory),
        best_config=write_best_config(study, config, directory),
        objectives=[goal.name for goal in config.study.goals] if several else [],
        pareto=[(t.number, tuple(t.values), dict(t.params)) for t in pareto_trials(study)] if several else [],
    )


def stored_durations(study: optuna.Study) -> list[float]:
    """Seconds of every finished (complete or pruned) trial, whichever worker ran it."""
    return [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    ]
