"""Study summary files for the study run: trials table, search space, best config, history plots."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import optuna
from optuna.trial import TrialState

from optflow.config import Config
from optflow.contract import ATTR_RUN_ID
from optflow.search.ranking import best_trial, first_value, pareto_trials, ranked
from optflow.search.space import distribution

logger = logging.getLogger("optflow")


def _png(figure: Any) -> bytes:
    from optflow.tracking.plots import figure_png

    return figure_png(figure)


def summary_artifacts(study: optuna.Study, config: Config) -> dict[str, bytes | str]:
    """Artifact path -> content for the study run (docs/reference/contracts.md)."""
    files: dict[str, bytes | str] = {}
    frame = study.trials_dataframe(attrs=("number", "value", "params", "state", "duration", "user_attrs"))
    files["study/trials.csv"] = frame.to_csv(index=False)
    space = {p.name: optuna.distributions.distribution_to_json(distribution(p)) for p in config.search}
    files["study/search_space.json"] = json.dumps({k: json.loads(v) for k, v in space.items()}, indent=2)
    best = best_trial(study)
    if best is not None:
        files["study/best_config.yaml"] = config.best_trial_yaml(best.number, first_value(best), best.params)
    if config.study.multi_objective:
        files["study/pareto_front.csv"] = pareto_table(study, config)
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        files.update(_plots(study, config))
    return files


def pareto_table(study: optuna.Study, config: Config) -> str:
    """One row per Pareto-optimal trial: its number, objectives, constraint values, params and MLflow run."""
    import pandas as pd

    names = [goal.name for goal in config.study.goals]
    rows = []
    for trial in pareto_trials(study):
        row: dict[str, Any] = {"trial": trial.number, **dict(zip(names, trial.values, strict=True))}
        row.update({f"constraint {c}": v for c, v in sorted(trial.constraints.items())})
        row.update({f"params_{k}": v for k, v in trial.params.items()})
        row["run_id"] = trial.user_attrs.get(ATTR_RUN_ID, "")
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["trial", *names]).to_csv(index=False)


BEST_CURVES = 5  # trials drawn in the overlay of the best loss curves


def _best_curves(study: optuna.Study, config: Config) -> Any:
    """The monitored metric per epoch of the best complete trials, one line each."""
    from optflow.tracking.plots import curves_overlay

    best = [t for t in ranked(study) if t.intermediate_values][:BEST_CURVES]
    curves = {f"trial {t.number} ({first_value(t):.4g})": dict(t.intermediate_values) for t in best}
    return curves_overlay(curves, config.study.metric, f"best {len(best)} trials of {config.study.name}")


def _plots(study: optuna.Study, config: Config) -> dict[str, bytes | str]:
    """The report page and a PNG of each plot (what MLflow's artifact viewer shows without a browser's help)."""
    from optflow.tracking import plots
    from optflow.tracking.report import IMPORTANCE_EVALUATOR, importances, study_report

    metric = config.study.metric
    importance = importances(study)
    by_importance = sorted((p.name for p in config.search), key=lambda name: -importance.get(name, 0.0))
    names = [goal.name for goal in config.study.goals]
    report = study_report(study, metric, importance, by_importance, names)
    files: dict[str, bytes | str] = {"plots/report.html": report}
    figures = {
        **({"pareto_front": lambda: plots.pareto_png(study, names)} if len(names) > 1 else {}),
        "optimization_history": lambda: plots.history_png(study, metric),
        **(
            {}
            if config.study.multi_objective
            else {"intermediate_values": lambda: plots.intermediate_png(study, metric)}
        ),
        "param_importances": lambda: plots.importance_png(importance, metric, IMPORTANCE_EVALUATOR),
        "parallel_coordinate": lambda: plots.parallel_png(study, metric, by_importance),
        **({} if config.study.multi_objective else {"best_loss_curves": lambda: _best_curves(study, config)}),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, draw in figures.items():
            if name == "param_importances" and not importance:
                continue
            try:
                files[f"plots/{name}.png"] = _png(draw())
            except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as error:
                logger.info("skipped plot %s: %s", name, error)
    return files
