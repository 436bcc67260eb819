"""Config validation: every message names the field, the allowed values and what was given."""

from __future__ import annotations

from conftest import config_error

from optflow.config import build_config


def test_defaults_are_valid():
    config = build_config({})
    assert config.training.optimizer == "sgd" and config.study.storage == "sqlite:///optuna.db"


def test_unknown_sampler_lists_the_known_ones():
    from optflow.search.samplers import SAMPLERS

    message = config_error({"study": {"sampler": "bayes"}})
    assert message == f"study.sampler must be one of {', '.join(sorted(SAMPLERS))}; got 'bayes'"


def test_unknown_optimizer_and_schedule_and_dataset():
    assert config_error({"training": {"optimizer": "rmsprop"}}).startswith(
        "training.optimizer must be one of adam, adamw, gd, momentum, nesterov, sgd; got 'rmsprop'"
    )
    assert "inverse_time" in config_error({"training": {"schedule": "linear"}})
    assert config_error({"data": {"name": "mnist"}}).startswith("data.name must be one of ")


def test_numbers_name_their_interval():
    assert config_error({"training": {"lr": -1}}) == "training.lr must be a float in (0, inf); got -1"
    assert config_error({"training": {"dropout": 1.0}}) == "training.dropout must be a float in [0, 1); got 1.0"
    assert config_error({"study": {"n_trials": "ten"}}) == "study.n_trials must be an int in [1, inf); got 'ten'"
    assert config_error({"training": {"batch_size": 0}}).startswith("training.batch_size must be an int in [1, inf)")


def test_unknown_field_and_section():
    error = config_error({"training": {"lrr": 1}})
    assert error.startswith("training.lrr is not a known field; did you mean 'lr'? known fields: ")
    assert config_error({"trainer": {}}).startswith("trainer is not a known config section")


def test_csv_shorthand_and_requirements():
    config = build_config({"data": {"csv": "x.csv", "target": "y"}})
    assert config.data.name == "csv" and config.data.path == "x.csv"
    assert config_error({"data": {"name": "csv", "path": "x.csv"}}).startswith("data.target must name")


def test_direction_follows_metric():
    assert build_config({"study": {"metric": "val_accuracy"}}).study.maximize
    assert not build_config({"study": {"metric": "val_rmse"}}).study.maximize
    assert build_config({"study": {"metric": "val_rmse", "direction": "maximize"}}).study.maximize


def test_the_reference_documents_every_field_and_choice():
    from optflow.config import RULES
    from optflow.config.reference import reference
    from optflow.search.pruners import PRUNERS
    from optflow.search.samplers import SAMPLERS
    from optflow.training.optim import OPTIMIZERS
    from optflow.training.schedules import SCHEDULES

    text = reference()
    for section, rules in RULES.items():
        for name in rules:
            assert f"### {section}.{name}\n" in text, f"{section}.{name}"
    for name in (*OPTIMIZERS, *SCHEDULES):
        assert f"`{name}`" in text, name
    for names in (SAMPLERS, PRUNERS):
        assert f"- allowed: one of {', '.join(sorted(names))}\n" in text
