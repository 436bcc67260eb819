"""Figures as PNG (matplotlib, no browser needed): a trial's loss curves and the study's summary plots."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; also safe off the main thread and without a display

import math  # noqa: E402

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402
from optuna.distributions import CategoricalDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from optflow.records import EpochRecord  # noqa: E402
from optflow.search.ranking import first_value, maximizes_first  # noqa: E402
from optflow.tracking.scales import Scale, robust_scale, wants_log_axis  # noqa: E402


def new_figure(fixed_layout: bool = False) -> tuple[Figure, object]:
    """A 640x400 figure with one axis, drawn without pyplot (safe in any thread or process).

    A fixed layout halves the drawing time (about 110 instead of 230 ms here): every trial's figure uses it,
    since drawing is most of what tracking costs a cheap trial; the study's few figures lay themselves out.
    """
    figure = Figure(figsize=(6.4, 4.0), dpi=100, layout=None if fixed_layout else "constrained")
    if fixed_layout:
        figure.subplots_adjust(left=0.11, right=0.87, bottom=0.12, top=0.92)
    return figure, figure.add_subplot()


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes (with a laid-out figure, legends outside the axes are kept in)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches=None if figure.get_layout_engine() is None else "tight")
    return buffer.getvalue()


def _metric_curves(figure: Figure, axis: Any, records: Sequence[EpochRecord], title: str) -> Figure:
    epochs = [r.epoch for r in records]
    for name in sorted({name for r in records for name in r.metrics()}):
        axis.plot(epochs, [r.metrics().get(name, float("nan")) for r in records], label=name)
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title(title)
    axis.legend(loc="upper right")
    return figure


def loss_curve(records: Sequence[EpochRecord], title: str) -> Figure:
    """Train and validation loss per epoch, with the validation accuracy or RMSE on a second axis."""
    figure, axis = new_figure(fixed_layout=True)
    epochs = [r.epoch for r in records]
    losses = [name for name in ("train_loss", "val_loss") if records and getattr(records[0], name) is not None]
    if not losses:  # an own loop that reports other metrics: those, on one axis
        return _metric_curves(figure, axis, records, title)
    colors = {"train_loss": "tab:blue", "val_loss": "tab:orange"}
    for name in losses:
        axis.plot(epochs, [getattr(r, name) for r in records], label=name, color=colors[name])
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel("loss")
    if all((getattr(r, name) or 0) > 0 for r in records for name in losses):
        axis.set_yscale("log")
        axis.yaxis.set_minor_formatter(NullFormatter())  # labels on minor ticks cost time and crowd the axis
    axis.set_title(title)
    extra = next(
        (m for m in ("val_accuracy", "val_rmse", "val_bpc") if records and getattr(records[0], m) is not None), ""
    )
    if records and extra:
        twin = axis.twinx()
        twin.plot(epochs, [getattr(r, extra) for r in records], label=extra, color="tab:green", linestyle="--")
        twin.set_ylabel(extra)
        lines = axis.get_lines() + twin.get_lines()
        axis.legend(lines, [line.get_label() for line in lines], loc="upper right")
    return figure


def curves_overlay(curves: dict[str, dict[int, float]], metric: str, title: str) -> Figure:
    """One metric per epoch for several trials on one axis (the best trials of a study)."""
    figure, axis = new_figure()
    for label, values in curves.items():
        epochs = sorted(values)
        axis.plot(epochs, [values[e] for e in epochs], label=label, marker="o", markersize=2)
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel(metric)
    if curves and all(v > 0 for values in curves.values() for v in values.values()):
        axis.set_yscale("log")
    axis.set_title(title)
    if curves:
        axis.legend(loc="upper right", fontsize="small")
    return figure


# ------------------------------------------------------------------------------------------------ study plots


def _apply_scale(axis: object, scale: Scale) -> None:
    if scale.log:
        axis.set_yscale("log")
        axis.yaxis.set_minor_formatter(NullFormatter())
    axis.set_ylim(*scale.padded())
    if scale.clipped:
        axis.text(0, 1.01, scale.note(), transform=axis.transAxes, fontsize="small", va="bottom", color="dimgray")


def history_png(study: optuna.Study, metric: str) -> Figure:
    """Each complete trial's value and the best so far, in trial order, on a robust scale."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    figure, axis = new_figure()
    numbers, values = [t.number for t in trials], [first_value(t) for t in trials]
    best, running = [], None
    for value in values:
        better = running is None or (value > running if maximizes_first(study) else value < running)
        running = value if better else running
        best.append(running)
    scale = robust_scale(values)
    clipped = np.clip(values, scale.low, scale.high)
    axis.scatter(numbers, clipped, s=14, color="tab:blue", label=metric, zorder=3)
    axis.step(numbers, np.clip(best, scale.low, scale.high), where="post", color="tab:red", label="best so far")
    axis.set_xlabel("trial")
    axis.set_ylabel(metric)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    _apply_scale(axis, scale)
    axis.set_title(f"optimization history of {study.study_name}", pad=16 if scale.clipped else 6)
    axis.legend(loc="upper right", fontsize="small")
    return figure


def intermediate_png(study: optuna.Study, metric: str) -> Figure:
    """Every trial's monitored value per epoch (pruned ones stop early), on a robust scale."""
    figure, axis = new_figure()
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    scale = robust_scale([v for t in trials for v in t.intermediate_values.values()])
    for trial in trials:
        epochs = sorted(trial.intermediate_values)
        values = np.clip([trial.intermediate_values[e] for e in epochs], scale.low, scale.high)
        color = "tab:gray" if trial.state == TrialState.PRUNED else "tab:blue"
        axis.plot(epochs, values, color=color, alpha=0.5, linewidth=1)
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    _apply_scale(axis, scale)
    axis.set_title(f"{metric} per epoch (grey: pruned)", pad=16 if scale.clipped else 6)
    return figure


def importance_png(values: dict[str, float], metric: str, evaluator: str) -> Figure:
    """Param importances as horizontal bars, largest on top, naming the evaluator."""
    figure, axis = new_figure()
    names = sorted(values, key=values.get)
    axis.barh(names, [values[n] for n in names], color="tab:blue")
    for y, name in enumerate(names):
        axis.text(values[name], y, f" {values[name]:.2f}", va="center", fontsize="small")
    axis.set_xlabel("importance")
    axis.set_xlim(0, max(values.values()) * 1.15 or 1)
    axis.set_title(f"param importances for {metric} ({evaluator}, as optuna-dashboard)")
    return figure


MAX_AXES = 8  # params drawn in the parallel coordinates (the most important ones), so the labels stay readable


def parallel_png(study: optuna.Study, metric: str, params: list[str]) -> Figure:
    """Parallel coordinates laid out for the size MLflow shows a PNG at: the metric, then up to `MAX_AXES`
    params; each line a complete trial, coloured by the metric on a robust scale (best drawn on top)."""
    trials, scale, columns = parallel_columns(study, metric, params)
    figure = Figure(figsize=(10.0, 4.8), dpi=100, layout="constrained")
    axis = figure.add_subplot()
    cmap = matplotlib.colormaps["viridis" if maximizes_first(study) else "viridis_r"]
    colour = (LogNorm if scale.log else Normalize)(scale.low, scale.high)
    order = sorted(range(len(trials)), key=lambda i: first_value(trials[i]), reverse=not maximizes_first(study))
    for i in order:  # the best last, on top
        shade = cmap(colour(float(np.clip(first_value(trials[i]), scale.low, scale.high))))
        points = [(x, column[1][i]) for x, column in enumerate(columns) if not math.isnan(column[1][i])]
        axis.plot(*zip(*points, strict=True), color=shade, alpha=0.8, linewidth=1.2)  # across unused params
    for x, (_, _, ticks) in enumerate(columns):
        axis.axvline(x, color="black", linewidth=0.8)
        for y, tick in ticks:
            axis.text(x + 0.03, y, tick, fontsize=8, va="center", ha="left")
    axis.set_xticks(range(len(columns)), [label for label, _, _ in columns], rotation=15, ha="right")
    axis.set_yticks([])
    axis.set_xlim(-0.1, len(columns) - 0.5)
    axis.set_ylim(-0.05, 1.05)
    for side in ("left", "right", "top"):
        axis.spines[side].set_visible(False)
    figure.colorbar(ScalarMappable(colour, cmap), ax=axis, label=metric)
    title = f"parallel coordinates of {len(trials)} complete trials"
    axis.set_title(title + (f"; {scale.note()}" if scale.clipped else ""), fontsize="medium")
    return figure


Column = tuple[str, list[float], list[tuple[float, str]]]  # axis label, each trial's position in [0, 1], ticks


def parallel_columns(study: optuna.Study, metric: str, params: list[str]) -> tuple[list, Scale, list[Column]]:
    """The complete trials, the metric's robust scale, and the axes of a parallel-coordinates plot: the metric,
    then up to `MAX_AXES` of `params` (in that order) that some trial used."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = [p for p in params if any(p in t.params for t in trials)][:MAX_AXES]
    scale = robust_scale([first_value(t) for t in trials])
    return trials, scale, [_metric_column(metric, trials, scale), *(_param_column(name, trials) for name in names)]


def _axis(
    values: list[float | None], low: float, high: float, log: bool
) -> tuple[list[float], list[tuple[float, str]]]:
    """Positions in [0, 1] of values on a (log) range, NaN where a trial has none; ticks at both ends and the
    middle."""
    lo, hi = (math.log10(low), math.log10(high)) if log else (low, high)
    span = (hi - lo) or 1.0
    ys = [float("nan") if v is None else ((math.log10(v) if log else v) - lo) / span for v in values]
    mid = 10 ** ((lo + hi) / 2) if log else (lo + hi) / 2
    return ys, [(0.0, f"{low:.3g}"), (0.5, f"{mid:.3g}"), (1.0, f"{high:.3g}")]


def _metric_column(metric: str, trials: list, scale: Scale) -> Column:
    values = [float(np.clip(first_value(t), scale.low, scale.high)) for t in trials]
    return (metric, *_axis(values, scale.low, scale.high, scale.log))


def _param_column(name: str, trials: list) -> Column:
    """A param's positions in [0, 1]: its own range (log for log params), or its choices evenly spaced; NaN for
    a trial that did not use it (a conditional param)."""
    distribution = next(t.distributions[name] for t in trials if name in t.distributions)
    if isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        spacing = max(len(choices) - 1, 1)
        ys = [choices.index(t.params[name]) / spacing if name in t.params else float("nan") for t in trials]
        return name, ys, [(i / spacing, str(choice)) for i, choice in enumerate(choices)]
    values = [t.params.get(name) for t in trials]
    return (name, *_axis(values, float(distribution.low), float(distribution.high), bool(distribution.log)))


def pareto_png(study: optuna.Study, names: Sequence[str]) -> Figure:
    """The first two objectives of every complete trial: the Pareto-optimal ones marked and joined in order,
    infeasible ones grey; with a third objective, it colours the points."""
    from optflow.search.ranking import is_feasible, pareto_trials

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    front = {t.number for t in pareto_trials(study)}
    figure, axis = new_figure()
    feasible = [t for t in trials if is_feasible(t)]
    infeasible = [t for t in trials if not is_feasible(t)]
    if infeasible:
        axis.scatter(
            [t.values[0] for t in infeasible],
            [t.values[1] for t in infeasible],
            s=14,
            c="0.75",
            label=f"breaks a constraint ({len(infeasible)})",
        )
    colour = {"c": [t.values[2] for t in feasible], "cmap": "viridis"} if len(names) > 2 else {"c": "tab:blue"}
    points = axis.scatter(
        [t.values[0] for t in feasible],
        [t.values[1] for t in feasible],
        s=16,
        alpha=0.7,
        label=f"trials ({len(feasible)})",
        **colour,
    )
    if len(names) > 2:
        figure.colorbar(points, ax=axis, label=names[2])
    best = sorted((t for t in feasible if t.number in front), key=lambda t: (t.values[0], t.values[1]))
    axis.plot(
        [t.values[0] for t in best],
        [t.values[1] for t in best],
        "o-" if len(names) == 2 else "o",
        color="tab:red",
        markerfacecolor="none",
        markersize=9,
        label=f"Pareto front ({len(best)})",
    )
    for t in best:
        axis.annotate(str(t.number), (t.values[0], t.values[1]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axis.set_xlabel(names[0])
    axis.set_ylabel(names[1])
    for k, set_scale in enumerate((axis.set_xscale, axis.set_yscale)):
        if wants_log_axis([t.values[k] for t in trials]):
            set_scale("log")
    axis.set_title(f"Pareto front of {study.study_name}")
    axis.legend(loc="best", fontsize=8)
    return figure
