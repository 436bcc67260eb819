"""Figures: a trial's loss curves and the study's summary plots (PNG through matplotlib, no browser needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; also safe off the main thread and without a display

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from optflow.records import EpochRecord  # noqa: E402


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


def loss_curve(records: Sequence[EpochRecord], title: str) -> Figure:
    """Train and validation loss per epoch, with the validation accuracy or RMSE on a second axis."""
    figure, axis = new_figure(fixed_layout=True)
    epochs = [r.epoch for r in records]
    axis.plot(epochs, [r.train_loss for r in records], label="train_loss", color="tab:blue")
    axis.plot(epochs, [r.val_loss for r in records], label="val_loss", color="tab:orange")
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel("loss")
    if records and all(r.train_loss > 0 and r.val_loss > 0 for r in records):
        axis.set_yscale("log")
        axis.yaxis.set_minor_formatter(NullFormatter())  # labels on minor ticks cost time and crowd the axis
    axis.set_title(title)
    extra = "val_accuracy" if records and records[0].val_accuracy is not None else "val_rmse"
    if records:
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
