"""The search section: every entry's type, range, grid and condition validated against its field."""

from __future__ import annotations

from conftest import config_error

from optflow.config import build_config


def test_search_low_above_high():
    message = config_error({"search": {"lr": {"type": "float", "low": 1.0, "high": 0.1}}})
    assert message == "search.lr.low must be < search.lr.high; got low=1, high=0.1"


def test_search_log_needs_positive_low():
    message = config_error({"search": {"l2": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}})
    assert message == "search.l2.low must be > 0 when log is true; got 0"


def test_search_bounds_obey_the_field():
    assert config_error({"search": {"dropout": {"type": "float", "low": 0.0, "high": 1.5}}}).startswith(
        "search.dropout.high must be a float in [0, 1)"
    )
    assert "search.optimizer.choices must be one of" in config_error(
        {"search": {"optimizer": {"type": "categorical", "choices": ["sgd", "lbfgs"]}}}
    )


def test_search_unknown_field_and_type():
    assert config_error({"search": {"foo": {"type": "float", "low": 0, "high": 1}}}).startswith(
        "search.foo is not a searchable field"
    )
    assert config_error({"search": {"lr": {"type": "uniform", "low": 0.1, "high": 1}}}) == (
        "search.lr.type must be one of categorical, float, int; got 'uniform'"
    )


def test_search_conditions_are_validated():
    config = build_config(
        {"search": {"decay_rate": {"type": "float", "low": 0.01, "high": 1, "when": {"schedule": ["inverse_time"]}}}}
    )
    assert config.search[0].when == (("schedule", ("inverse_time",)),)
    assert "search.decay_rate.when.schedule must be one of" in config_error(
        {"search": {"decay_rate": {"type": "float", "low": 0.01, "high": 1, "when": {"schedule": ["sometimes"]}}}}
    )
