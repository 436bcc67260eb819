"""Searched names: bare where they mean one field, `section.field` always, a factory's or an own loop's params
declared by the search itself, and the MLP's shape as `mlp_layers` and `mlp_width_<k>`."""

from __future__ import annotations

import sys
import textwrap

import optuna
import pytest
import yaml
from conftest import config_error

from optflow.cli import main
from optflow.config import build_config

MODULE = "names_pkg"  # the user's functions, written into each test's directory
CODE = """
seen = []

def load(params):
    return params

def build(params, spec):
    return params

def run(params, reporter):
    seen.append(dict(params))
    for epoch in range(2):
        reporter.epoch({"val_loss": (params["lr"] - 0.1) ** 2 + epoch})
"""
FLOAT = {"type": "float", "low": 0.01, "high": 1.0}


@pytest.fixture
def functions(workdir, monkeypatch):
    (workdir / f"{MODULE}.py").write_text(textwrap.dedent(CODE))
    monkeypatch.syspath_prepend(str(workdir))
    yield workdir
    sys.modules.pop(MODULE, None)


def data_factory(**params):
    return {"factory": f"{MODULE}:load", "params": params}


def tune_on_data(functions, capsys, name: str, code: str, search: dict, **study) -> None:
    """Write the user's data module `<name>_pkg.py` and a config searching it, and run `optflow tune` on it."""
    (functions / f"{name}_pkg.py").write_text(textwrap.dedent(code))
    params = {key.split(".", 1)[1]: 40 for key in search}  # the fixed value each searched param replaces
    config = {
        "study": {"name": name, "sampler": "grid", "n_trials": 2, **study},
        "data": {"factory": f"{name}_pkg:load", "params": params},
        "training": {"epochs": 1},
        "search": {key: {"type": "categorical", "choices": choices} for key, choices in search.items()},
    }
    (functions / f"{name}.yaml").write_text(yaml.safe_dump(config))
    tracking = [] if study.get("log_models") else ["--no-tracking"]
    assert main(["tune", "--config", f"{name}.yaml", *tracking, "--quiet"]) == 0, capsys.readouterr().err


def test_a_factory_param_may_share_a_fields_name_when_it_is_not_searched(functions):
    """The data factory's own `seed` is no `training.seed`: only searched names must say one thing."""
    config = build_config({"data": data_factory(seed=3), "search": {"lr": FLOAT}})
    assert config.data.params == {"seed": 3} and config.training.seed == 0
    searchable = config.searchable()
    assert searchable["training.seed"] == "training" and searchable["data.seed"] == "data.params"
    assert "seed" not in searchable  # ambiguous bare


def test_an_ambiguous_bare_name_is_refused_with_the_names_to_choose_from(functions):
    message = config_error({"data": data_factory(seed=3), "search": {"seed": {"type": "int", "low": 0, "high": 9}}})
    assert message == (
        "search.seed must name one field: write data.seed or training.seed; got 'seed', which names each of them"
    )


def test_a_search_names_any_field_as_section_dot_field(functions):
    seeds = {"type": "int", "low": 0, "high": 9}
    config = build_config(
        {
            "data": data_factory(seed=3),
            "search": {
                "data.seed": seeds,
                "training.seed": seeds,
                "training.lr": FLOAT,
                "model.channels": {**seeds, "low": 1},
            },
        }
    )
    assert [p.name for p in config.search] == ["data.seed", "training.seed", "training.lr", "model.channels"]
    trial = config.with_params({"data.seed": 5, "training.seed": 7, "training.lr": 0.3, "model.channels": 4})
    assert (trial.data.params, trial.training.seed, trial.training.lr, trial.model.channels) == ({"seed": 5}, 7, 0.3, 4)
    assert config.value_of("training.lr") == 0.05 and config.value_of("data.seed") == 3


def test_one_field_searched_under_two_names_is_refused():
    message = config_error({"search": {"lr": FLOAT, "training.lr": FLOAT}})
    assert message == (
        "search.training.lr must name a field no other entry searches; got training.lr, which search.lr searches too"
    )


def test_a_condition_may_name_a_searched_field_by_section():
    schedule = {"type": "categorical", "choices": ["constant", "inverse_time"]}
    decay = {"type": "float", "low": 0.01, "high": 1.0, "when": {"training.schedule": ["inverse_time"]}}
    config = build_config({"search": {"decay_rate": decay, "schedule": schedule}})
    assert [p.name for p in config.search] == ["schedule", "decay_rate"]
    assert config.search[1].when == (("schedule", ("inverse_time",)),)  # the name the trial's value is drawn under


def test_a_factorys_param_needs_no_default_when_named_by_section(functions):
    depth = {"type": "int", "low": 1, "high": 4}
    config = build_config({"model": {"factory": f"{MODULE}:build"}, "search": {"model.depth": depth}})
    assert config.with_params({"model.depth": 3}).model.params == {"depth": 3}
    message = config_error({"model": {"factory": f"{MODULE}:build"}, "search": {"depth": depth}})
    assert message.startswith("search.depth is not a searchable field; searchable: ")
    assert message.endswith("; a factory's param without a default: model.<name>")


def test_an_own_loops_searched_param_needs_no_default_and_reaches_the_loop(functions, capsys):
    config = {
        "study": {"name": "own", "sampler": "random", "n_trials": 3},
        "objective": {"function": f"{MODULE}:run", "params": {"width": 8}},
        "search": {"lr": FLOAT},
    }
    (functions / "own.yaml").write_text(yaml.safe_dump(config))
    assert main(["tune", "--config", "own.yaml", "--no-tracking", "--quiet"]) == 0, capsys.readouterr().err
    seen = sys.modules[MODULE].seen
    assert len(seen) == 3 and all(set(params) == {"width", "lr"} for params in seen)
    study = optuna.load_study(study_name="own", storage="sqlite:///optuna.db")
    assert [t.params["lr"] for t in study.trials] == [params["lr"] for params in seen]


MLP_SEARCH = {
    "mlp_layers": {"type": "int", "low": 1, "high": 3},
    "mlp_width_1": {"type": "int", "low": 4, "high": 64, "log": True},
    "mlp_width_2": {"type": "int", "low": 4, "high": 64, "log": True},
    "mlp_width_3": {"type": "categorical", "choices": [8, 16]},
}


def test_the_mlps_depth_and_widths_are_searchable_each_width_active_by_depth():
    config = build_config({"model": {"hidden": [32, 16]}, "search": MLP_SEARCH})
    when = {p.name: p.when for p in config.search}
    assert when["mlp_width_1"] == (("mlp_layers", (1, 2, 3)),)
    assert when["mlp_width_2"] == (("mlp_layers", (2, 3)),) and when["mlp_width_3"] == (("mlp_layers", (3,)),)
    deepest = {"mlp_layers": 3, "mlp_width_1": 8, "mlp_width_2": 9, "mlp_width_3": 16}
    assert config.with_params(deepest).model.hidden == (8, 9, 16)
    assert config.with_params({"mlp_layers": 1, "mlp_width_1": 5}).model.hidden == (5,)
    assert config.with_params({"mlp_layers": 3}).model.hidden == (32, 16, 16)  # new layers take the last width
    assert config.with_params({"mlp_width_2": 7}).model.hidden == (32, 7)
    assert config.value_of("mlp_layers") == 2 and config.value_of("mlp_width_2") == 16


def test_a_width_no_depth_reaches_is_refused():
    width = {"type": "int", "low": 4, "high": 64}
    assert config_error({"search": {"mlp_layers": {"type": "int", "low": 1, "high": 2}, "mlp_width_3": width}}) == (
        "search.mlp_width_3 must name a layer search.mlp_layers can reach (at most 2); got layer 3"
    )
    assert config_error({"model": {"hidden": [8]}, "search": {"mlp_width_2": width}}) == (
        "search.mlp_width_2 must name one of the MLP's 1 hidden layers (model.hidden), or search mlp_layers too; "
        "got layer 2"
    )
    assert "mlp_layers" in config_error({"search": {"hidden": {"type": "int", "low": 4, "high": 64}}})


@pytest.mark.parametrize("sampler", ["gp", "grid"])
def test_the_best_config_holds_the_chosen_shape_and_only_the_fields_that_act(workdir, capsys, sampler):
    config = {
        "study": {"name": "shape", "sampler": sampler, "n_trials": 12, "seed": 1},
        "data": {"name": "iris"},
        "training": {"epochs": 2, "optimizer": "adam", "lr": 0.01},
        "search": {
            "mlp_layers": {"type": "int", "low": 1, "high": 2},
            "mlp_width_1": {"type": "categorical", "choices": [4, 16]},
            "mlp_width_2": {"type": "categorical", "choices": [4, 16]},
        },
    }
    (workdir / "shape.yaml").write_text(yaml.safe_dump(config))
    assert main(["tune", "--config", "shape.yaml", "--no-tracking", "--quiet"]) == 0, capsys.readouterr().err
    study = optuna.load_study(study_name="shape", storage="sqlite:///optuna.db")
    for trial in study.trials:  # a width is drawn exactly when the depth has its layer
        assert ("mlp_width_2" in trial.params) == (trial.params["mlp_layers"] == 2), trial.params
    best = study.best_trial.params
    written = yaml.safe_load((workdir / "optuna_artifacts" / "shape" / "best_config.yaml").read_text())
    assert written["model"]["hidden"] == [best[f"mlp_width_{k}"] for k in range(1, best["mlp_layers"] + 1)]
    assert "channels" not in written["model"] and "momentum" not in written["training"]  # an MLP, adam
    assert "objective" not in written and "search" not in written
    assert build_config(written).model.hidden == tuple(written["model"]["hidden"])  # it replays


def test_a_runs_params_carry_the_names_the_search_wrote(functions):
    """The name in `search:` is the Optuna param and the MLflow param key; a fixed factory param that shares a
    field's name is logged beside it, not over it."""
    from optflow.tracking.params import run_params

    seeds = {"type": "int", "low": 0, "high": 9}
    config = build_config({"data": data_factory(seed=3), "search": {"training.lr": FLOAT, "data.seed": seeds}})
    trial = config.with_params({"training.lr": 0.3, "data.seed": 5})
    params = run_params(trial, {"training.lr": 0.3, "data.seed": 5})
    assert params["training.lr"] == "0.3" and "lr" not in params
    assert params["data.seed"] == "5" and params["seed"] == "0"  # training.seed keeps its own key
    assert run_params(config)["data.seed"] == "3"  # not searched: still beside training's

    widths = {**seeds, "low": 1}
    shape = build_config({"search": {"mlp_layers": {"type": "int", "low": 1, "high": 2}, "mlp_width_1": widths}})
    trial = shape.with_params({"mlp_layers": 1, "mlp_width_1": 7})
    logged = run_params(trial, {"mlp_layers": 1, "mlp_width_1": 7})
    assert (logged["mlp_layers"], logged["mlp_width_1"], logged["hidden"]) == ("1", "7", "7")


def test_a_study_searching_a_field_by_section_keeps_its_identity_when_the_fixed_value_changes(functions):
    """A field searched as `training.lr` is no part of what makes the study's task, as a bare `lr` is not."""
    from optflow.study.identity import definition

    bare = definition(build_config({"search": {"lr": FLOAT}}), None)
    qualified = definition(build_config({"search": {"training.lr": FLOAT}}), None)
    assert "training.lr" not in bare and "training.lr" not in qualified
    shape = definition(build_config({"search": {"mlp_layers": {"type": "int", "low": 1, "high": 2}}}), None)
    assert "model.hidden" not in shape


def test_a_searched_data_factory_param_reaches_the_data_of_its_trial(functions, capsys):
    """Each trial loads the data its params ask for (the data was loaded once, from the fixed config)."""
    code = """
import torch
import optflow

loaded = []

def load(params):
    loaded.append(params["n_rows"])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(params["n_rows"], 3, generator=g)
    y = (x[:, 0] > 0).long()
    half = params["n_rows"] // 2
    return optflow.DataSplits((x[:half], y[:half]), (x[half:], y[half:]), task="classification")
"""
    tune_on_data(functions, capsys, "rows", code, {"data.n_rows": [60, 80]})
    import rows_pkg

    assert sorted(set(rows_pkg.loaded) - {40}) == [60, 80]
    sys.modules.pop("rows_pkg", None)


def test_fields_searched_by_section_count_where_bare_ones_do(functions):
    """Hyperband's largest budget, the device and model kind checks read `training.epochs`, `training.device`
    and `model.kind` whatever name the search gives them."""
    from optflow.data import load_dataset
    from optflow.errors import UsageError
    from optflow.study.preflight import preflight
    from optflow.study.study import max_epochs

    epochs = {"type": "int", "low": 5, "high": 80}
    assert max_epochs(build_config({"search": {"training.epochs": epochs}})) == 80
    tabular = build_config(
        {"data": {"name": "iris"}, "search": {"model.kind": {"type": "categorical", "choices": ["mlp", "cnn"]}}}
    )
    with pytest.raises(UsageError):
        preflight(tabular, load_dataset(tabular.data))


def test_an_own_loop_gets_its_params_under_their_own_names_however_searched(functions, capsys):
    import names_pkg

    config = {
        "study": {"name": "loop", "sampler": "random", "n_trials": 2},
        "objective": {"function": f"{MODULE}:run", "params": {"width": 3}},
        "search": {"objective.lr": FLOAT},
    }
    (functions / "loop.yaml").write_text(yaml.safe_dump(config))
    assert main(["tune", "--config", "loop.yaml", "--no-tracking", "--quiet"]) == 0, capsys.readouterr().err
    assert [sorted(params) for params in names_pkg.seen] == [["lr", "width"], ["lr", "width"]]


def test_a_fixed_mlp_depth_stays_in_the_studys_identity_when_only_widths_are_searched(functions):
    from optflow.study.identity import definition

    widths = {"mlp_width_1": {"type": "int", "low": 4, "high": 64}}
    two = definition(build_config({"model": {"hidden": [32, 16]}, "search": widths}), None)
    three = definition(build_config({"model": {"hidden": [32, 16, 8]}, "search": widths}), None)
    assert two["model.hidden"] != three["model.hidden"]
    assert two["model.hidden"][1] == 16  # a width not searched is part of the task


def test_a_searched_data_value_that_cannot_load_fails_its_trial_and_the_study_goes_on(functions, capsys):
    code = """
import torch
import optflow

def load(params):
    if params["n_rows"] == 13:
        raise ValueError("13 rows is unlucky")
    x = torch.randn(params["n_rows"], 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    half = params["n_rows"] // 2
    return optflow.DataSplits((x[:half], y[:half]), (x[half:], y[half:]), task="classification")
"""
    tune_on_data(functions, capsys, "unlucky", code, {"data.n_rows": [13, 60]})
    trials = {
        t.params["data.n_rows"]: t
        for t in optuna.load_study(study_name="unlucky", storage="sqlite:///optuna.db").trials
    }
    assert trials[60].state == optuna.trial.TrialState.COMPLETE
    assert trials[13].state == optuna.trial.TrialState.FAIL
    assert "13 rows is unlucky" in trials[13].user_attrs["fail_reason"]
    sys.modules.pop("unlucky_pkg", None)


def test_a_trial_on_data_of_its_own_logs_its_model_with_that_data(functions, capsys):
    """The model of a trial whose params change the data's width is logged with that data's preprocessing and
    input example (with the study's fixed data, its run could not be logged: exit 3)."""
    code = """
import torch
import optflow

def load(params):
    x = torch.randn(80, params["n_features"], generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    return optflow.DataSplits((x[:40], y[:40]), (x[40:], y[40:]), task="classification")
"""
    tune_on_data(functions, capsys, "wide", code, {"data.n_features": [3, 5]}, log_models="all")
    sys.modules.pop("wide_pkg", None)
