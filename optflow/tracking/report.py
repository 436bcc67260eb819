"""The study report: one self-contained HTML page with every interactive plot of a study.

plotly.js is embedded once (about 3.6 MB), so the page draws offline and inside the MLflow UI's artifact
viewer (an iframe), where a CDN-loaded page stays blank. Scales are robust (`scales.py`): log where every
value is positive, clipped to the bulk of the values, and each plot says what it left outside. Importances are
computed with PED-ANOVA, as optuna-dashboard computes them, so both show the same numbers.
"""

from __future__ import annotations

import html
import logging
import math
import warnings
from typing import Any

import optuna
from optuna.trial import TrialState

from optflow.search.ranking import first_value, maximizes_first, pareto_trials
from optflow.tracking.scales import Scale, robust_scale, wants_log_axis

logger = logging.getLogger("optflow")

IMPORTANCE_EVALUATOR = "PED-ANOVA"  # optuna-dashboard's choice (`PedAnovaImportanceEvaluator()`)


def importances(study: optuna.Study) -> dict[str, float]:
    """Param importances as optuna-dashboard computes them; empty when there are too few trials."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            return optuna.importance.get_param_importances(study, evaluator=evaluator, target=_lower_is_better(study))
    except (ValueError, RuntimeError, ZeroDivisionError) as error:  # e.g. fewer than 2 complete trials
        logger.info("no param importances: %s", error)
        return {}


def _target(study: optuna.Study) -> Any:
    """Optuna's plots and importances take one value: with several objectives, the first (`study.metric`)."""
    return first_value if len(study.directions) > 1 else None


def _lower_is_better(study: optuna.Study) -> Any:
    """Importances with several objectives: PED-ANOVA takes a target as lower-is-better, so a maximised first
    objective goes in negated."""
    if len(study.directions) == 1:
        return None
    return (lambda t: -first_value(t)) if maximizes_first(study) else first_value


def _apply_scale(figure: Any, scale: Scale, axis: str = "yaxis") -> None:
    low, high = scale.padded()
    if scale.log:
        figure.update_layout({axis: {"type": "log", "range": [math.log10(low), math.log10(high)]}})
    else:
        figure.update_layout({axis: {"range": [low, high]}})


def _subtitle(figure: Any, text: str) -> None:
    if text:
        figure.add_annotation(text=text, xref="paper", yref="paper", x=0, y=1.06, showarrow=False, xanchor="left")


def history_figure(study: optuna.Study, metric: str) -> Any:
    from optuna.visualization import plot_optimization_history

    figure = plot_optimization_history(study, target=_target(study), target_name=metric)
    values = [first_value(t) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    scale = robust_scale(values)
    _apply_scale(figure, scale)
    _subtitle(figure, scale.note())
    return figure


def intermediate_figure(study: optuna.Study, metric: str) -> Any:
    from optuna.visualization import plot_intermediate_values

    figure = plot_intermediate_values(study)
    values = [v for t in study.get_trials(deepcopy=False) for v in t.intermediate_values.values()]
    scale = robust_scale(values)
    _apply_scale(figure, scale)
    figure.update_layout(title=f"{metric} per epoch", yaxis_title=metric)
    _subtitle(figure, scale.note("epoch values"))
    return figure


def importance_figure(study: optuna.Study, metric: str, values: dict[str, float]) -> Any:
    import plotly.graph_objects as go

    names = sorted(values, key=values.get)
    figure = go.Figure(go.Bar(x=[values[n] for n in names], y=names, orientation="h"))
    figure.update_layout(
        title=f"param importances for {metric} ({IMPORTANCE_EVALUATOR}, as optuna-dashboard computes them)",
        xaxis_title="importance",
    )
    return figure


UNUSED = -0.1  # where a trial that did not use a conditional param meets its axis


def parallel_figure(study: optuna.Study, metric: str, params: list[str]) -> Any:
    """Parallel coordinates with the axes and the robust colour scale of the PNG (`plots.parallel_columns`)."""
    import plotly.graph_objects as go

    from optflow.tracking.plots import parallel_columns

    trials, scale, columns = parallel_columns(study, metric, params)
    dimensions = []
    for label, ys, ticks in columns:
        unused = any(math.isnan(y) for y in ys)
        ticks = [*ticks, (UNUSED, "(not used)")] if unused else ticks
        dimensions.append(
            {
                "label": label,
                "values": [UNUSED if math.isnan(y) else y for y in ys],
                "range": [UNUSED if unused else 0.0, 1.0],
                "tickvals": [y for y, _ in ticks],
                "ticktext": [text for _, text in ticks],
            }
        )
    values = [float(min(max(first_value(t), scale.low), scale.high)) for t in trials]
    colours = [math.log10(v) for v in values] if scale.log else values
    colorbar = {"title": {"text": f"{metric} (log10)" if scale.log else metric}}
    minimize = not maximizes_first(study)
    line = {
        "color": colours,
        "colorscale": "Viridis",
        "reversescale": minimize,
        "showscale": True,
        "colorbar": colorbar,
    }
    figure = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    figure.update_layout(title=f"parallel coordinates of {len(trials)} complete trials", margin={"l": 60, "r": 60})
    _subtitle(figure, scale.note())
    return figure


def pareto_figure(study: optuna.Study, names: list[str]) -> Any:
    from optuna.visualization import plot_pareto_front

    figure = plot_pareto_front(study, target_names=names, include_dominated_trials=True)
    if len(names) == 2:  # a 3-objective front is a 3D scene: plotly's own axes
        values = [t.values for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        for k, update in enumerate((figure.update_xaxes, figure.update_yaxes)):
            if wants_log_axis([v[k] for v in values]):
                update(type="log")
    return figure


def study_report(
    study: optuna.Study, metric: str, importance: dict[str, float], params: list[str], names: list[str] | None = None
) -> str:
    """The report page: each plot that the study's trials allow, plotly.js embedded once; the parallel
    coordinates show `params` in that order (the most important first). `names` of several objectives add the
    Pareto front."""
    front = pareto_trials(study) if names and len(names) > 1 else []  # none while no trial is feasible
    makers = {
        **({"Pareto front": lambda: pareto_figure(study, names)} if names and len(names) > 1 and front else {}),
        "optimization history": lambda: history_figure(study, metric),
        **({"per-epoch values": lambda: intermediate_figure(study, metric)} if len(study.directions) == 1 else {}),
        "param importances": lambda: importance_figure(study, metric, importance),
        "parallel coordinates": lambda: parallel_figure(study, metric, params),
    }
    sections = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for title, make in makers.items():
            if title == "param importances" and not importance:
                continue
            try:
                figure = make()
            except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as error:
                logger.info("skipped %s: %s", title, error)
                continue
            embed = not sections  # plotly.js inside the page, once, before the first plot
            body = figure.to_html(full_html=False, include_plotlyjs=embed, default_height="520px")
            sections.append(f"<section><h2>{html.escape(title)}</h2>{body}</section>")
    name = html.escape(study.study_name)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{name}: optflow study report</title>'
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1100px}h2{margin-top:1.5em}</style></head>"
        f"<body><h1>Study {name}</h1>{''.join(sections)}</body></html>\n"
    )
