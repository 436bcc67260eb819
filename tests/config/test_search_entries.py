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


SCHEDULE = {"type": "categorical", "choices": ["constant", "inverse_time"]}
DECAY = {"type": "float", "low": 0.01, "high": 1, "when": {"schedule": ["inverse_time"]}}


def test_search_conditions_are_validated():
    config = build_config({"search": {"decay_rate": DECAY, "schedule": SCHEDULE}})
    assert config.search[1].when == (("schedule", ("inverse_time",)),)
    assert "search.decay_rate.when.schedule must be one of" in config_error(
        {"search": {"decay_rate": {"type": "float", "low": 0.01, "high": 1, "when": {"schedule": ["sometimes"]}}}}
    )


def test_a_conditional_param_comes_after_the_params_its_condition_reads():
    gamma = {"type": "float", "low": 0.5, "high": 0.99, "when": {"schedule": ["exponential"]}}
    schedule = {"type": "categorical", "choices": ["constant", "exponential"], "when": {"optimizer": ["sgd"]}}
    optimizer = {"type": "categorical", "choices": ["sgd", "adam"]}
    lr = {"type": "float", "low": 0.01, "high": 1.0}
    config = build_config({"search": {"gamma": gamma, "lr": lr, "schedule": schedule, "optimizer": optimizer}})
    assert [p.name for p in config.search] == ["lr", "optimizer", "schedule", "gamma"]


def test_conditions_must_not_form_a_cycle():
    a = {"type": "categorical", "choices": ["sgd", "adam"], "when": {"schedule": ["cosine"]}}
    b = {"type": "categorical", "choices": ["constant", "cosine"], "when": {"optimizer": ["adam"]}}
    assert config_error({"search": {"optimizer": a, "schedule": b}}) == (
        "search.optimizer.when must not form a cycle of conditions; got optimizer -> schedule -> optimizer"
    )


def test_a_condition_that_can_never_hold_is_refused():
    assert config_error({"search": {"decay_rate": DECAY}}) == (
        "search.decay_rate.when.schedule must include training.schedule ('constant'), since schedule is not "
        "searched; got ['inverse_time']"
    )
    fixed = {"training": {"schedule": "inverse_time"}, "search": {"decay_rate": DECAY}}
    assert build_config(fixed).search[0].name == "decay_rate"  # the fixed value matches: always sampled
    narrow = {"type": "categorical", "choices": ["constant", "cosine"]}
    assert config_error({"search": {"decay_rate": DECAY, "schedule": narrow}}) == (
        "search.decay_rate.when.schedule must list one of search.schedule's choices (constant, cosine); "
        "got ['inverse_time']"
    )


def test_the_entry_type_must_fit_the_field():
    assert config_error({"search": {"epochs": {"type": "float", "low": 1, "high": 5}}}) == (
        "search.epochs.type must be one of categorical, int; got 'float'"
    )
    assert config_error({"search": {"optimizer": {"type": "int", "low": 1, "high": 3}}}) == (
        "search.optimizer.type must be one of categorical; got 'int'"
    )
    assert build_config({"search": {"l2": {"type": "int", "low": 0, "high": 3}}}).search[0].type == "int"


def test_a_step_must_divide_the_range():
    assert config_error({"search": {"dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.2}}}) == (
        "search.dropout.step must divide high - low (0.5) into whole steps; got 0.2"
    )
    assert build_config({"search": {"dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1}}}).search


def test_the_grid_is_bounded_before_it_is_built():
    many = {"type": "float", "low": 0.0, "high": 0.5, "n_points": 100_000}
    search = {"dropout": many, "l2": {**many, "high": 0.1}, "lr": {**many, "low": 0.001}}
    message = config_error({"study": {"sampler": "grid"}, "search": search})
    assert message == (
        "search must give the grid sampler at most 100,000 points (fewer grid or n_points values, or another "
        "study.sampler); got 1,000,000,000,000,000 (100,000 x 100,000 x 100,000)"
    )
    assert build_config({"study": {"sampler": "random"}, "search": search})  # only the grid builds it
    assert config_error({"search": {"dropout": {**many, "n_points": 1_000_000}}}).startswith(
        "search.dropout.n_points must be an int in [2, 100000]; got 1000000"
    )
