"""The Pareto front's pictures: an objective spanning powers of ten (a parameter count) is drawn on a log axis,
so the small models at the front's knee are not squashed onto zero."""

from __future__ import annotations

import optuna
import pytest

from optflow.tracking.plots import pareto_png
from optflow.tracking.report import pareto_figure
from optflow.tracking.scales import wants_log_axis


def study_of(points: list[tuple[float, float]]) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "minimize"])
    x = optuna.distributions.FloatDistribution(0, 1)
    for i, values in enumerate(points):
        study.add_trial(optuna.trial.create_trial(params={"x": i / 10}, distributions={"x": x}, values=values))
    return study


@pytest.mark.parametrize(
    ("values", "log"),
    [([438, 1702, 94186], True), ([0.05, 0.1, 0.3], False), ([0.0, 10.0, 1000.0], False), ([5.0], False)],
)
def test_an_axis_is_log_only_for_positive_values_across_two_decades(values, log):
    assert wants_log_axis(values) is log


def test_a_parameter_count_is_drawn_on_a_log_axis_beside_a_linear_loss():
    study = study_of([(0.05, 94186), (0.08, 24058), (0.12, 1702), (0.29, 438), (0.4, 5000)])
    axis = pareto_png(study, ["val_loss", "n_params"]).axes[0]
    assert (axis.get_xscale(), axis.get_yscale()) == ("linear", "log")
    layout = pareto_figure(study, ["val_loss", "n_params"]).layout
    assert (layout.xaxis.type, layout.yaxis.type) == (None, "log")
