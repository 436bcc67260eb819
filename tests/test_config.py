"""Config validation: every message names the field, the allowed values and what was given."""

from __future__ import annotations

import pytest

from optflow.config import apply_overrides, build_config, load_config, parse_override, resolve_direction
from optflow.errors import UsageError


def error_of(raw) -> str:
    with pytest.raises(UsageError) as caught:
        build_config(raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_are_valid():
    config = build_config({})
    assert config.training.optimizer == "sgd" and config.study.storage == "sqlite:///optuna.db"


def test_unknown_sampler_lists_the_known_ones():
    from optflow.samplers import SAMPLERS

    message = error_of({"study": {"sampler": "bayes"}})
    assert message == f"study.sampler must be one of {', '.join(sorted(SAMPLERS))}; got 'bayes'"


def test_unknown_optimizer_and_schedule_and_dataset():
    assert error_of({"training": {"optimizer": "rmsprop"}}).startswith(
        "training.optimizer must be one of adam, gd, momentum, sgd; got 'rmsprop'"
    )
    assert "inverse_time" in error_of({"training": {"schedule": "linear"}})
    assert error_of({"data": {"name": "mnist"}}).startswith("data.name must be one of ")


def test_numbers_name_their_interval():
    assert error_of({"training": {"lr": -1}}) == "training.lr must be a float in (0, inf); got -1"
    assert error_of({"training": {"dropout": 1.0}}) == "training.dropout must be a float in [0, 1); got 1.0"
    assert error_of({"study": {"n_trials": "ten"}}) == "study.n_trials must be an int in [1, inf); got 'ten'"
    assert error_of({"training": {"batch_size": 0}}).startswith("training.batch_size must be an int in [1, inf)")


def test_unknown_field_and_section():
    assert error_of({"training": {"lrr": 1}}).startswith("training.lrr is not a known field; known fields: ")
    assert error_of({"trainer": {}}).startswith("trainer is not a known config section")


def test_search_low_above_high():
    message = error_of({"search": {"lr": {"type": "float", "low": 1.0, "high": 0.1}}})
    assert message == "search.lr.low must be < search.lr.high; got low=1, high=0.1"


def test_search_log_needs_positive_low():
    message = error_of({"search": {"l2": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}})
    assert message == "search.l2.low must be > 0 when log is true; got 0"


def test_search_bounds_obey_the_field():
    assert error_of({"search": {"dropout": {"type": "float", "low": 0.0, "high": 1.5}}}).startswith(
        "search.dropout.high must be a float in [0, 1)"
    )
    assert "search.optimizer.choices must be one of" in error_of(
        {"search": {"optimizer": {"type": "categorical", "choices": ["sgd", "lbfgs"]}}}
    )


def test_search_unknown_field_and_type():
    assert error_of({"search": {"foo": {"type": "float", "low": 0, "high": 1}}}).startswith(
        "search.foo is not a searchable field"
    )
    assert error_of({"search": {"lr": {"type": "uniform", "low": 0.1, "high": 1}}}) == (
        "search.lr.type must be one of categorical, float, int; got 'uniform'"
    )


def test_search_conditions_are_validated():
    config = build_config(
        {"search": {"decay_rate": {"type": "float", "low": 0.01, "high": 1, "when": {"schedule": ["inverse_time"]}}}}
    )
    assert config.search[0].when == (("schedule", ("inverse_time",)),)
    assert "search.decay_rate.when.schedule must be one of" in error_of(
        {"search": {"decay_rate": {"type": "float", "low": 0.01, "high": 1, "when": {"schedule": ["sometimes"]}}}}
    )


def test_overrides_are_read_as_yaml():
    assert parse_override("training.lr=0.5") == ("training.lr", 0.5)
    assert parse_override("model.hidden=[64,32]") == ("model.hidden", [64, 32])
    raw = apply_overrides({"training": {"lr": 0.1}}, {"training.lr": 0.2, "search.lr.high": 1.0})
    assert raw == {"training": {"lr": 0.2}, "search": {"lr": {"high": 1.0}}}


def test_csv_shorthand_and_requirements():
    config = build_config({"data": {"csv": "x.csv", "target": "y"}})
    assert config.data.name == "csv" and config.data.path == "x.csv"
    assert error_of({"data": {"name": "csv", "path": "x.csv"}}).startswith("data.target must name")


def test_direction_follows_metric():
    assert resolve_direction(build_config({"study": {"metric": "val_accuracy"}}).study) == "maximize"
    assert resolve_direction(build_config({"study": {"metric": "val_rmse"}}).study) == "minimize"


def test_shipped_configs_are_valid():
    for name in ("digits", "diabetes"):
        config = load_config(f"configs/{name}.yaml")
        assert config.search, name


def test_missing_config_file(tmp_path):
    with pytest.raises(UsageError, match="--config must be an existing YAML file"):
        load_config(tmp_path / "nope.yaml")


def test_readme_documents_every_field_and_choice():
    from pathlib import Path

    from optflow.config import RULES
    from optflow.optim import OPTIMIZERS, SCHEDULES
    from optflow.samplers import SAMPLERS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for section, rules in RULES.items():
        for name in rules:
            assert f"`{name}`" in readme or f"{name}`" in readme or f"`{name}," in readme, f"{section}.{name}"
    for name in (*OPTIMIZERS, *SCHEDULES, *SAMPLERS):
        assert f"`{name}`" in readme, name
