"""Study summary files for the study run: trials table, search space, best config, history plots."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from optflow.config import Config
from optflow.search.space import distribution

logger = logging.getLogger("optflow")


def _png(figure: Any) -> bytes:
    from optflow.tracking.plots import figure_png

    return figure_png(figure)


def study_summary_files(study: optuna.Study, config: Config) -> dict[str, bytes | str]:
    """Artifact path -> content for the study run (DESIGN.md contract)."""
    files: dict[str, bytes | str] = {}
    frame = study.trials_dataframe(attrs=("number", "value", "params", "state", "duration", "user_attrs"))
    files["study/trials.csv"] = frame.to_csv(index=False)
    space = {p.name: optuna.distributions.distribution_to_json(distribution(p)) for p in config.search}
    files["study/search_space.json"] = json.dumps({k: json.loads(v) for k, v in space.items()}, indent=2)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        resolved = config.with_params(best.params).resolved()
        header = f"# best trial {best.number} of study {config.study.name}: {config.study.metric} = {best.value}\n"
        files["study/best_config.yaml"] = header + yaml.safe_dump(resolved, sort_keys=False)
        files.update(_plots(study))
        files["plots/best_loss_curves.png"] = _png(_best_curves(study, config))
    return files


BEST_CURVES = 5  # trials drawn in the overlay of the best loss curves
LOG_SCALED = ("optimization_history", "intermediate_values")  # log y when every value is positive


def _best_curves(study: optuna.Study, config: Config) -> Any:
    """The monitored metric per epoch of the best complete trials, one line each."""
    from optflow.tracking.plots import curves_overlay

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    best = sorted(complete, key=lambda t: t.value, reverse=reverse)[:BEST_CURVES]
    curves = {f"trial {t.number} ({t.value:.4g})": dict(t.intermediate_values) for t in best}
    return curves_overlay(curves, config.study.metric, f"best {len(best)} trials of {config.study.name}")


class _ImportancesOnce(optuna.importance.BaseImportanceEvaluator):
    """Computes param importances once (seeded fANOVA) for both the HTML and the PNG plot, which would
    otherwise each fit their own random forest and could disagree."""

    def __init__(self) -> None:
        self._cache: dict[str, float] | None = None

    def evaluate(
        self, study: optuna.Study, params: list[str] | None = None, *, target: Callable | None = None
    ) -> dict[str, float]:
        if self._cache is None:
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
            self._cache = evaluator.evaluate(study, params, target=target)
        return self._cache


def _plots(study: optuna.Study) -> dict[str, bytes | str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as mpl
    from optuna.visualization import (
        plot_intermediate_values,
        plot_optimization_history,
        plot_parallel_coordinate,
        plot_param_importances,
    )

    importances = _ImportancesOnce()
    plots = {
        "optimization_history": (plot_optimization_history, mpl.plot_optimization_history, {}),
        "intermediate_values": (plot_intermediate_values, mpl.plot_intermediate_values, {}),
        "param_importances": (plot_param_importances, mpl.plot_param_importances, {"evaluator": importances}),
        "parallel_coordinate": (plot_parallel_coordinate, mpl.plot_parallel_coordinate, {}),
    }
    values = [v for t in study.get_trials(deepcopy=False) for v in (*t.intermediate_values.values(), t.value)]
    positive = all(v is None or v > 0 for v in values)
    files: dict[str, bytes | str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (interactive, static, kwargs) in plots.items():
            try:
                files[f"plots/{name}.html"] = interactive(study, **kwargs).to_html(include_plotlyjs="cdn")
                axes = static(study, **kwargs)
                if name in LOG_SCALED and positive:
                    axes.set_yscale("log")  # one diverging trial would flatten every other curve
                figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
                files[f"plots/{name}.png"] = _png(figure)
                plt.close(figure)
            except (ValueError, RuntimeError, ZeroDivisionError) as error:  # e.g. importances need 2+ trials
                logger.info("skipped plot %s: %s", name, error)
    return files
