"""The user's own model and data, by import path in the config or passed from Python: refused in one line when
they do not fit, searched by their own params when they do, and logged as a model that loads without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import count_rows
from mlflow import MlflowClient

import optflow
from optflow.cli import main
from optflow.errors import UsageError

PACKAGE = "userpkg"  # the user's project: written into each test's directory

MODELS = """
from torch import nn

def build(params, spec):
    return nn.Sequential(nn.Linear(spec.input_shape[0], params["width"]), nn.ReLU(),
                         nn.Linear(params["width"], spec.n_outputs))

def one_argument(params):
    return nn.Linear(2, 2)

def not_a_module(params, spec):
    return "a string"

def wrong_width(params, spec):
    return nn.Linear(spec.input_shape[0] + 3, spec.n_outputs)

def two_outputs(params, spec):
    return nn.Linear(spec.input_shape[0], 2)

def extra_dimension(params, spec):
    return nn.Sequential(nn.Linear(spec.input_shape[0], spec.n_outputs), nn.Unflatten(1, (spec.n_outputs, 1)))

def three_outputs(params, spec):
    return nn.Linear(spec.input_shape[0], 3)

NOT_CALLABLE = 3
"""

DATA = """
import numpy as np
import optflow

def blobs(n=240, shift=0):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + y[:, None] * 1.5
    return x, y + shift

def load(params):
    x, y = blobs(params.get("n", 240))
    return optflow.DataSplits(train=(x[:200], y[:200]), val=(x[200:], y[200:]), task="classification")

def as_mapping(params):
    x, y = blobs()
    return {"train": (x[:200], y[:200]), "val": (x[200:], y[200:]), "task": "classification"}

def bad_labels(params):
    x, y = blobs(shift=-1)
    return optflow.DataSplits(train=(x[:200], y[:200]), val=(x[200:], y[200:]), task="classification", n_outputs=3)

def torch_sets(params):
    import torch
    x, y = blobs()
    rows = torch.utils.data.TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    return optflow.DataSplits(train=torch.utils.data.Subset(rows, range(200)),
                              val=torch.utils.data.Subset(rows, range(200, 240)), task="classification", n_outputs=3)

def regression(params):
    x, y = blobs()
    y = y.astype(np.float32)
    return optflow.DataSplits(train=(x[:200], y[:200]), val=(x[200:], y[200:]), task="regression")

def a_list(params):
    return [1, 2, 3]

def unknown_task(params):
    x, y = blobs()
    return optflow.DataSplits(train=(x, y), val=(x, y), task="clustering")
"""

CRITERIA = """
import numpy as np
import torch.nn.functional as F

def smoothed(output, target):
    return F.cross_entropy(output, target, label_smoothing=0.1)

def macro_f1(output, target):
    predicted, target = output.argmax(1).numpy(), target.numpy()
    scores = []
    for label in np.unique(target):
        tp = np.sum((predicted == label) & (target == label))
        scores.append(2 * tp / (np.sum(predicted == label) + np.sum(target == label)))
    return float(np.mean(scores))

def one_argument(output):
    return output.sum()

def per_row(output, target):
    return F.cross_entropy(output, target, reduction="none")

def a_float(output, target):
    return 1.0

def a_vector(output, target):
    return output[:, 0]

def accuracy(output, target):
    return 0.0
"""


@pytest.fixture
def project(workdir, monkeypatch):
    """A user's project directory holding the package `userpkg`, forgotten by this process afterwards."""
    package = workdir / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(textwrap.dedent(MODELS))
    (package / "data.py").write_text(textwrap.dedent(DATA))
    (package / "criteria.py").write_text(textwrap.dedent(CRITERIA))
    monkeypatch.syspath_prepend(str(workdir))
    yield workdir
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def user_config(workdir: Path, **changes) -> Path:
    config = {
        "study": {"name": "mine", "sampler": "random", "n_trials": 3, "log_models": "best"},
        "data": {"factory": f"{PACKAGE}.data:load", "params": {"n": 240}},
        "model": {"factory": f"{PACKAGE}.models:build", "params": {"width": 16}},
        "training": {"epochs": 3, "optimizer": "adam", "lr": 0.01},
        "search": {"width": {"type": "int", "low": 4, "high": 32, "log": True}},
    }
    for dotted, value in changes.items():
        section, field = dotted.split("__")
        config[section][field] = value
    path = workdir / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


BAD = {
    "no module": ({"model__factory": "nopkg.models:build"}, "model.factory must name an importable module; got "),
    "no attribute": ({"model__factory": f"{PACKAGE}.models:missing"}, "model.factory must name an attribute of"),
    "not callable": ({"model__factory": f"{PACKAGE}.models:NOT_CALLABLE"}, "model.factory must name a function"),
    "no colon": ({"model__factory": "userpkg.models.build"}, "model.factory must be an import path like"),
    "one argument": ({"model__factory": f"{PACKAGE}.models:one_argument"}, "model.factory must take (params, spec)"),
    "not a module": (
        {"model__factory": f"{PACKAGE}.models:not_a_module"},
        "model.factory must return a torch.nn.Module; got a str",
    ),
    "wrong input": (
        {"model__factory": f"{PACKAGE}.models:wrong_width"},
        "model.factory must build a network that takes the data's inputs (4,)",
    ),
    "output too narrow": (
        {"model__factory": f"{PACKAGE}.models:two_outputs"},
        "model.factory must build a network whose output is (rows, 3) for 3 classes; got (2, 2)",
    ),
    "output with an extra dimension": (
        {"model__factory": f"{PACKAGE}.models:extra_dimension"},
        "model.factory must build a network whose output is (rows, 3) for 3 classes; got (2, 3, 1)",
    ),
    "regression output too wide": (
        {"model__factory": f"{PACKAGE}.models:three_outputs", "data__factory": f"{PACKAGE}.data:regression"},
        "model.factory must build a network whose output is (rows, 1) or (rows,) for regression; got (2, 3)",
    ),
    "data as a list": ({"data__factory": f"{PACKAGE}.data:a_list"}, "data.factory must return optflow.DataSplits"),
    "negative labels": ({"data__factory": f"{PACKAGE}.data:bad_labels"}, "data.factory must return class labels"),
    "unknown task": ({"data__factory": f"{PACKAGE}.data:unknown_task"}, "data.factory must return a task of"),
    "params clash": (  # a factory's param may share a field's name, but a search must say which it varies
        {"model__params": {"width": 16, "lr": 0.1}, "search__lr": {"type": "float", "low": 0.01, "high": 0.1}},
        "search.lr must name one field: write model.lr or training.lr; got 'lr'",
    ),
    "params without a factory": (
        {"model__factory": "", "model__params": {"width": 16}},
        "model.params needs model.factory",
    ),
    "loss takes one argument": (
        {"training__loss": f"{PACKAGE}.criteria:one_argument"},
        "training.loss must take (output, target); got 'userpkg.criteria:one_argument' with signature (output)",
    ),
    "loss per row": (
        {"training__loss": f"{PACKAGE}.criteria:per_row"},
        "training.loss must return a scalar tensor of the outputs (to backpropagate); got a tensor of shape (2,)",
    ),
    "loss a float": ({"training__loss": f"{PACKAGE}.criteria:a_float"}, "training.loss must return a scalar tensor"),
    "metric not imported": ({"study__metrics": ["nopkg:f1"]}, "study.metrics must name an importable module"),
    "metric a vector": (
        {"study__metrics": [f"{PACKAGE}.criteria:a_vector"]},
        "study.metrics must return a number (val_a_vector); got a tensor of shape (2,)",
    ),
    "metric named like optflow's": (
        {"study__metrics": [f"{PACKAGE}.criteria:accuracy"]},
        "study.metrics must give each metric a name of its own",
    ),
    "metric not among them": (
        {"study__metrics": [f"{PACKAGE}.criteria:macro_f1"], "study__metric": "val_f1", "study__direction": "maximize"},
        "study.metric must be one of val_accuracy, val_bpc, val_loss, val_macro_f1, val_rmse; got 'val_f1'",
    ),
    "search of no param": (
        {"search__depth": {"type": "int", "low": 1, "high": 3}},
        "search.depth is not a searchable field",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_user_factory_that_does_not_fit_is_one_line_and_exit_2(project, capsys, case):
    changes, expected = BAD[case]
    code = main(["tune", "--config", str(user_config(project, **changes)), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and expected in err, err
    assert count_rows(project / "mlflow.db", "runs") == 0
    assert count_rows(project / "optuna.db", "studies") == 0


def test_the_users_loss_trains_and_their_metric_is_the_studys(project):
    """`training.loss` and `study.metrics` by import path: the metric is logged per epoch, each trial's value is
    its best, pruning watches it, and the run carries `best_val_macro_f1`."""
    config = user_config(
        project,
        training__loss=f"{PACKAGE}.criteria:smoothed",
        study__metrics=[f"{PACKAGE}.criteria:macro_f1"],
        study__metric="val_macro_f1",
        study__direction="maximize",
        study__pruner="median",
    )
    assert main(["tune", "--config", str(config), "--quiet"]) == 0
    study = optuna.load_study(study_name="mine", storage="sqlite:///optuna.db")
    client = MlflowClient()
    for trial in study.trials:
        run_id = trial.user_attrs["mlflow_run_id"]
        curve = [m.value for m in client.get_metric_history(run_id, "val_macro_f1")]
        assert len(curve) == 3 and trial.value == pytest.approx(max(curve))
        assert list(trial.intermediate_values.values()) == pytest.approx(curve)  # what the pruner sees
        run = client.get_run(run_id)
        assert run.data.metrics["best_val_macro_f1"] == pytest.approx(trial.value)
        assert run.data.params["loss"] == f"{PACKAGE}.criteria:smoothed"
        # the task's own metric is still measured from the outputs, whatever loss trained the model
        assert 0 < run.data.metrics["val_accuracy"] <= 1


def test_a_loss_and_metrics_passed_from_python(workdir):
    import torch.nn.functional as F

    def doubled(output, target):
        return 2 * F.cross_entropy(output, target)

    def rows(output, target):
        return len(target)

    config = {
        "study": {"name": "py", "sampler": "random", "n_trials": 1, "log_models": "none"},
        "data": {"name": "iris"},
        "training": {"epochs": 2},
    }
    result = optflow.tune(config, loss=doubled, metrics=[rows], tracking=False)
    assert result.n_complete == 1
    records = []
    optflow.train(config, loss=doubled, metrics=[rows], tracking=False, on_epoch=records.append)
    assert [r.extra for r in records] == [{"val_rows": 30}] * 2  # the whole validation set of iris, each epoch
    with pytest.raises(UsageError, match=r"^metrics must be importable by name when workers > 1 .*got \S*rows$"):
        optflow.tune(config, metrics=[rows], workers=2)


def test_data_as_a_mapping_and_searched_factory_params_reach_the_runs(project, capsys):
    config = user_config(project, data__factory=f"{PACKAGE}.data:as_mapping")
    assert main(["tune", "--config", str(config), "--quiet"]) == 0
    study = optuna.load_study(study_name="mine", storage="sqlite:///optuna.db")
    widths = sorted(t.params["width"] for t in study.trials)
    assert all(4 <= w <= 32 for w in widths) and len(set(widths)) > 1  # the factory's param, searched
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("mine").experiment_id], "tags.`optuna.trial_number` != ''")
    by_trial = {int(r.data.tags["optuna.trial_number"]): r for r in runs}
    for trial in study.trials:
        params = by_trial[trial.number].data.params
        assert params["width"] == str(trial.params["width"])
        assert params["factory"] == f"{PACKAGE}.models:build"
        assert "hidden" not in params and "kind" not in params and "dropout" not in params  # they did not act


@pytest.mark.slow
def test_workers_import_the_users_code_and_the_model_loads_without_it(project):
    """Two worker processes and their tracking processes resolve the references; the best model answers in a
    fresh interpreter that has neither the user's package nor its directory on the path."""
    config = user_config(project, study__n_trials=2, study__metric="val_accuracy")
    result = subprocess.run(
        [sys.executable, "-m", "optflow", "tune", "--config", str(config), "--workers", "2", "--quiet"],
        cwd=project,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = optuna.load_study(study_name="mine", storage=f"sqlite:///{project}/optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2
    # Each worker validated the config (imported both factories) before joining; which of them ran the cheap
    # trials depends on timing, so it is not asserted.
    model_uri = next(line.split()[2] for line in result.stdout.splitlines() if "best model:" in line)

    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    script = textwrap.dedent(f"""
        import json, sys
        import mlflow, numpy as np
        sys.path = [p for p in sys.path if p not in ("", {str(project)!r})]
        model = mlflow.pyfunc.load_model({model_uri!r})
        rng = np.random.default_rng(0)
        y = rng.integers(0, 3, 240)
        x = (rng.normal(size=(240, 4)).astype(np.float32) + y[:, None] * 1.5).astype(np.float32)
        predicted = model.predict(x[200:])  # the signature asks float32, as the network took them
        print(json.dumps({{"accuracy": float((predicted == y[200:]).mean()),
                          "user_code_imported": "{PACKAGE}" in sys.modules}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project}/mlflow.db"
    answer = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert answer.returncode == 0, answer.stderr
    seen = json.loads(answer.stdout.strip().splitlines()[-1])
    assert not seen["user_code_imported"]
    assert seen["accuracy"] == pytest.approx(study.best_value, abs=1e-6)  # what the study reported


def test_functions_passed_from_python_run_in_one_process(workdir):
    """A notebook's functions: a model class and factories defined here, not importable by name."""
    import numpy as np
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self, width: int, n_in: int, n_out: int) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(n_in, width), nn.Tanh(), nn.Linear(width, n_out))

        def forward(self, x):
            return self.net(x)

    def load(params):
        rng = np.random.default_rng(1)
        x = rng.normal(size=(150, 3)).astype(np.float32)
        y = x @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
        return optflow.DataSplits(train=(x[:120], y[:120]), val=(x[120:], y[120:]), task="regression")

    config = {
        "study": {"name": "notebook", "sampler": "random", "n_trials": 2, "log_models": "best"},
        "model": {"params": {"width": 8}},
        "training": {"epochs": 3, "optimizer": "adam", "lr": 0.05},
        "search": {"width": {"type": "categorical", "choices": [4, 8, 16]}},
    }
    result = optflow.tune(config, model=lambda params, spec: Tiny(params["width"], 3, 1), data=load)
    assert result.n_complete == 2 and result.model_uri
    import mlflow

    loaded = mlflow.pyfunc.load_model(result.model_uri)
    x = np.ones((2, 3), dtype=np.float32)
    assert loaded.predict(x).shape == (2,)

    with pytest.raises(UsageError, match=r"^model must be importable by name when workers > 1 .*got \S*<lambda>$"):
        optflow.tune(config, model=lambda params, spec: Tiny(8, 3, 1), data=load, workers=2)


def test_a_factory_models_params_may_take_the_names_of_built_in_model_fields(project):
    """`activation` or `kind` would not act for a factory's model, so its own param may be called that."""
    from optflow.config import build_config

    config = build_config(
        {
            "model": {"factory": f"{PACKAGE}.models:build", "params": {"width": 8, "activation": "tanh"}},
            "search": {"activation": {"type": "categorical", "choices": ["tanh", "relu"]}},
        }
    )
    assert config.searchable()["activation"] == "model.params"
    assert config.with_params({"activation": "relu"}).model.params == {"width": 8, "activation": "relu"}
    assert config.model.params["activation"] == "tanh"  # the config itself is left as it was


def test_torch_datasets_from_a_factory_train_through_loaders(project):
    config = user_config(project, data__factory=f"{PACKAGE}.data:torch_sets", study__metric="val_accuracy")
    assert main(["tune", "--config", str(config), "--quiet", "--set", "training.epochs=6"]) == 0
    study = optuna.load_study(study_name="mine", storage="sqlite:///optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert study.best_value > 0.8  # three well-separated blobs
    run = MlflowClient().get_run(study.best_trial.user_attrs["mlflow_run_id"])
    assert run.data.params["num_workers"] == "0"  # the loaders' settings act, and are recorded


def test_an_own_loop_passed_from_python(workdir):
    """A notebook's training loop: searched, its metric reported per epoch, without an import path."""

    def run(params, reporter):
        for epoch in range(3):
            reporter.epoch({"score": (params["x"] - 1.0) ** 2 + 1.0 / (epoch + 1)})

    config = {
        "study": {"name": "loop", "sampler": "random", "n_trials": 3, "metric": "score", "direction": "minimize"},
        "objective": {"params": {"x": 0.0}},
        "search": {"x": {"type": "float", "low": -2.0, "high": 2.0}},
    }
    result = optflow.tune(config, objective=run, tracking=False)
    assert result.n_complete == 3
    assert result.best_value == pytest.approx((result.best_params["x"] - 1.0) ** 2 + 1.0 / 3)
    with pytest.raises(UsageError, match=r"^objective must be importable by name when workers > 1 .*got \S*run$"):
        optflow.tune(config, objective=run, workers=2)
