"""Bad input through the command line: exit status 2, one line naming the field, and nothing created (no MLflow
run, no Optuna study or trial). Like scikit-learn's `check_param_validation`, one table feeds every field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, count_rows

from optflow.cli import main
from optflow.config import RULES

DIGITS = str(ROOT / "configs" / "digits.yaml")
QUICK = ["--n-trials", "1", "--epochs", "1"]


@pytest.fixture
def files(workdir):
    """The bad files a user might point optflow at."""
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0, 1, 0, 1]}).to_csv(workdir / "no_target.csv", index=False)
    pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "y": [0, 1, 0, 1]}).to_csv(workdir / "nan.csv", index=False)
    (workdir / "only_target.csv").write_text("y\n1\n2\n3\n")
    (workdir / "header.csv").write_text("a,y\n")
    (workdir / "text_target.csv").write_text("a,y\n1,x\n2,z\n3,x\n4,z\n5,x\n")
    (workdir / "list.yaml").write_text("- study\n- data\n")
    (workdir / "scalar.yaml").write_text("digits\n")
    (workdir / "twice.yaml").write_text("study: {name: a}\ndata: {name: iris}\nstudy: {name: b}\n")
    (workdir / "not_a_db.db").write_text("this is not a database\n")
    (workdir / "a_file").write_text("")
    (workdir / "store").mkdir()
    (workdir / "store" / "checkpoints").write_text("")  # a file where the checkpoints' directory goes
    return workdir


def assert_refused(workdir, capsys, argv: list[str], expected: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("optflow: error: "), err
    assert expected in err, err
    assert count_rows(workdir / "mlflow.db", "runs") == 0
    assert count_rows(workdir / "optuna.db", "studies") == 0
    return err


@pytest.mark.parametrize("key", sorted(f"{s}.{f}" for s, rules in RULES.items() for f in rules))
def test_every_validated_field_refuses_a_bad_value(files, capsys, key):
    section, field = key.split(".")
    value = yaml.safe_dump(RULES[section][field].invalid, default_flow_style=True).strip().removesuffix("\n...")
    assert_refused(files, capsys, ["tune", "--config", DIGITS, "--set", f"{key}={value}"], f"{key} must be ")


BAD_INPUT = {
    "unknown sampler": (["--sampler", "bayes"], "study.sampler must be one of "),
    "unknown optimizer": (
        ["--set", "training.optimizer=rmsprop"],
        "training.optimizer must be one of adam, adamw, gd,",
    ),
    "unknown data set": (["--data", "mnist"], "data.name must be one of breast_cancer, classification, csv,"),
    "low above high": (["--set", "search.lr.low=2.0"], "search.lr.low must be < search.lr.high; got low=2, high=1"),
    "log with low 0": (["--set", "search.lr.low=0"], "search.lr.low must be > 0 when log is true; got 0"),
    "n_trials not an int": (["--n-trials", "ten"], "study.n_trials must be an int in [1, inf); got 'ten'"),
    "missing csv": (
        ["--set", "data.name=csv data.path=missing.csv data.target=y"],
        "data.path must be an existing CSV file; got 'missing.csv'",
    ),
    "csv without target": (
        ["--set", "data.name=csv data.path=no_target.csv data.target=y"],
        "data.target must be a column of no_target.csv; got 'y' (columns: a, b)",
    ),
    "nan in data": (
        ["--set", "data.name=csv data.path=nan.csv data.target=y"],
        "data.path nan.csv has 1 missing (NaN) values in column 'a'",
    ),
    "bad storage url": (["--storage", "nosuchdb://x"], "study.storage must be a database URL"),
    # Each of these made MLflow runs and Optuna trials, or printed a traceback, before.
    "accuracy on regression": (
        ["--data", "diabetes", "--metric", "val_accuracy"],
        "study.metric must be one of val_loss, val_rmse for regression data (diabetes); got 'val_accuracy'",
    ),
    "rmse on classes": (
        ["--metric", "val_rmse"],
        "study.metric must be one of val_loss, val_accuracy for classification data (digits); got 'val_rmse'",
    ),
    "cuda without a gpu": (
        ["--set", "training.device=cuda"],
        "training.device must be cpu or auto on this machine (torch sees no CUDA device); got 'cuda'",
    ),
    "fp16 on the cpu": (
        ["--set", "training.precision=fp16"],
        "training.precision must be fp32 or bf16 on the CPU (fp16 needs a CUDA device); got 'fp16'",
    ),
    "fp16 searched on the cpu": (
        ["--set", "search.precision={type: categorical, choices: [fp32, fp16]}"],
        "search.precision.choices must be fp32 or bf16 on the CPU (fp16 needs a CUDA device); got 'fp16'",
    ),
    "accumulation with full batches": (
        ["--set", "training.optimizer=gd training.gradient_accumulation_steps=2"],
        "training.gradient_accumulation_steps must be 1 with full-batch training",
    ),
    "label smoothing on regression": (
        ["--data", "diabetes", "--set", "training.label_smoothing=0.1"],
        "training.label_smoothing must be 0 for regression data (diabetes): it smooths class targets; got 0.1",
    ),
    "nesterov without momentum": (
        ["--set", "training.optimizer=nesterov training.momentum=0"],
        "training.momentum must be in (0, 1) with optimizer nesterov; got 0.0",
    ),
    "config is a list": (["--config", "list.yaml"], "--config list.yaml must hold a mapping of sections"),
    "config is a scalar": (["--config", "scalar.yaml"], "got a str"),
    "key given twice": (["--config", "twice.yaml"], "is not valid YAML: the key 'study' is given twice (line 3)"),
    "csv with only the target": (
        ["--set", "data.name=csv data.path=only_target.csv data.target=y"],
        "data.path only_target.csv has no feature columns besides the target 'y'",
    ),
    "text target as regression": (
        ["--set", "data.name=csv data.path=text_target.csv data.target=y data.task=regression"],
        "data.task must be classification for the text target column 'y' of text_target.csv; got 'regression'",
    ),
    "header-only csv": (
        ["--set", "data.name=csv data.path=header.csv data.target=y"],
        "data.path must be a CSV with rows of data; got 'header.csv' (a header, no rows)",
    ),
    "in-memory storage": (["--storage", "sqlite://"], "study.storage must be a database file or server"),
    "memory storage by name": (["--storage", "sqlite:///:memory:"], "got 'sqlite:///:memory:' (in memory)"),
    "storage not a database": (
        ["--storage", "sqlite:///not_a_db.db"],
        "study.storage 'sqlite:///not_a_db.db' cannot be opened: file is not a database",
    ),
    "storage below a file": (["--storage", "sqlite:///a_file/optuna.db"], "a_file is a file"),
    "artifact dir is a file": (["--artifact-dir", "a_file"], "study.artifact_dir must be a directory; got 'a_file'"),
    "checkpoints cannot be written": (
        ["--artifact-dir", "store"],
        "study.artifact_dir must be a directory optflow can write (checkpoints go to ",
    ),
    "study name from yaml": (["--set", "study.name=2024"], "study.name must be a non-empty string; got 2024"),
    "grid too large": (
        ["--sampler", "grid", "--set", "search.lr.grid=null search.lr.n_points=100000 search.l2.grid=null"],
        "search must give the grid sampler at most 100,000 points",
    ),
    "step that does not divide": (
        ["--set", "search.dropout.step=0.25 search.dropout.grid=null"],
        "search.dropout.step must divide high - low (0.6) into whole steps; got 0.25",
    ),
    "unknown objective": (
        ["--set", "study.objectives=[val_f1]"],
        "study.objectives must name n_params, train_seconds, val_accuracy, val_bpc, val_loss, val_rmse; got 'val_f1'",
    ),
    "objective twice": (["--set", "study.objectives=[val_loss]"], "study.objectives must differ from each other"),
    "constraint on an unknown name": (
        ["--set", "study.constraints=['size <= 3']"],
        "study.constraints must name ",
    ),
    "four objectives for gp": (
        ["--set", "study.objectives=[n_params,train_seconds,val_accuracy]"],
        "study.objectives must hold at most 2 names with the gp sampler",
    ),
    "float entry on an int field": (
        ["--set", "search.epochs={type: float, low: 1, high: 5}"],
        "search.epochs.type must be one of categorical, int; got 'float'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(files, capsys, case):
    argv, expected = BAD_INPUT[case]
    config = [] if "--config" in argv else ["--config", DIGITS]
    assert_refused(files, capsys, ["tune", *config, *QUICK, *argv], expected)


def test_a_path_beside_the_csv_shorthand_is_applied_or_refused_never_dropped(files, capsys):
    """`--set data.path=...` over a config's `csv:` shorthand is the file trained on; a `path:` beside `csv:`
    that names another file is refused, naming both."""
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "y": [0, 1, 0, 1, 0, 1]}).to_csv(files / "a.csv", index=False)
    (files / "short.yaml").write_text("data: {csv: a.csv, target: y}\n")
    argv = ["tune", "--config", "short.yaml", *QUICK, "--set"]
    assert_refused(files, capsys, [*argv, "data.path=no_target.csv"], "data.target must be a column of no_target.csv")
    assert_refused(files, capsys, [*argv, "data.path=missing.csv"], "got 'missing.csv'")
    (files / "both.yaml").write_text("data: {csv: a.csv, path: no_target.csv, target: y}\n")
    err = assert_refused(files, capsys, ["tune", "--config", "both.yaml", *QUICK], "data.path ")
    assert "data.csv" in err and "'no_target.csv'" in err and "'a.csv'" in err, err


def test_train_rejects_bad_input_the_same_way(workdir, capsys):
    assert main(["train", "--config", DIGITS, "--set", "training.lr=-1"]) == 2
    assert capsys.readouterr().err == "optflow: error: training.lr must be a float in (0, inf); got -1\n"
    assert_refused(workdir, capsys, ["train", "--config", DIGITS, "--set", "training.device=cuda"], "no CUDA device")


def test_dashboard_refuses_a_storage_that_is_no_url(workdir, capsys):
    err = assert_refused(workdir, capsys, ["dashboard", "--storage", "notaurl"], "must be a database URL")
    assert "got 'notaurl'" in err


def test_password_in_storage_flag_is_refused_under_mlflow_run(workdir, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc")
    assert main(["tune", "--config", DIGITS, "--storage", "postgresql://u:hunter2@localhost/db"]) == 2
    err = capsys.readouterr().err
    assert "OPTFLOW_STORAGE" in err and "hunter2" not in err


@pytest.mark.no_mlflow_db
def test_real_command_exit_status(workdir):
    """The installed entry point, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "optflow", "tune", "--config", DIGITS, "--sampler", "bayes"],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=workdir,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("optflow: error: study.sampler must be one of")
    assert result.stderr.count("\n") == 1
    assert not (workdir / "mlflow.db").exists() and not (workdir / "optuna.db").exists()


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory optflow cannot write to: a read-only one, or for root (who writes anywhere) sysfs, which
    refuses to create a file even for root."""
    if os.geteuid() == 0:
        return Path("/sys")
    path = tmp_path / "readonly"
    path.mkdir()
    path.chmod(0o555)
    return path


@pytest.mark.parametrize("place", ["storage", "tracking store"])
def test_a_read_only_directory_is_refused_in_one_line(workdir, readonly_dir, place):
    storage = f"sqlite:///{readonly_dir if place == 'storage' else workdir}/optuna.db"
    tracking = f"sqlite:///{readonly_dir if place == 'tracking store' else workdir}/mlflow.db"
    command = [sys.executable, "-m", "optflow", "tune", "--config", DIGITS, "--storage", storage, *QUICK]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("optflow: error: "), result.stderr
    expected = "study.storage must be in a directory optflow can write to" if place == "storage" else "tracking store"
    assert expected in result.stderr
    assert count_rows(workdir / "optuna.db", "studies") == 0


# A new user's words (issue 21, section 0): a typo, a YAML float, a pruner that cannot act, a path not found.


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--set", "training.epoch=3"], "training.epoch is not a known field; did you mean 'epochs'?"),
        (["--set", "trainin.lr=0.1"], "trainin is not a known config section; did you mean 'training'?"),
        (["--set", "search.lr={hihg: 1}"], "search.lr.hihg is not a known key; did you mean 'high'?"),
        (["--set", "search.epoch={}"], "search.epoch is not a searchable field; did you mean 'epochs'?"),
    ],
)
def test_a_typo_gets_did_you_mean(files, capsys, argv, expected):
    err = assert_refused(files, capsys, ["tune", "--config", DIGITS, *argv], expected)
    assert "known" in err or "searchable:" in err, err  # the list stays


def test_a_yaml_float_without_a_dot_is_the_number_meant(files, capsys):
    config = files / "exp.yaml"
    config.write_text(
        "study: {name: exp}\ndata: {name: iris}\ntraining: {epochs: 1, lr: 1e-2}\n"
        "search: {lr: {type: float, low: 1e-4, high: 1e-1, log: true}}\n"
    )
    assert yaml.safe_load(config.read_text())["training"]["lr"] == "1e-2"  # what PyYAML gives: a string
    code = main(["tune", "--config", str(config), "--n-trials", "1", "--no-tracking", "--quiet"])
    assert code == 0, capsys.readouterr().err


def test_an_int_field_takes_no_float_string(files, capsys):
    argv = ["tune", "--config", DIGITS, "--set", "training.epochs='1e1'"]
    assert_refused(files, capsys, argv, "training.epochs must be an int")


def test_a_pruner_that_cannot_act_is_said_once(workdir, capsys):
    argv = ["tune", "--config", DIGITS, "--n-trials", "2", "--epochs", "3", "--pruner", "median", "--no-tracking"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("study.pruner median cannot prune with 3 epochs") == 1, err
    assert "training.epochs" in err and "pruner none" in err, err


def test_an_import_that_fails_says_where_it_looked(files, capsys):
    err = assert_refused(
        files, capsys, ["tune", "--config", DIGITS, "--set", "model.factory=no_such_pkg.models:build"], "looked in"
    )
    assert str(files) in err and "PYTHONPATH" in err, err


@pytest.mark.parametrize("name", ["csv", "image_folder", "text"])
def test_a_relative_path_that_fails_says_where_it_looked(files, capsys, name):
    argv = ["tune", "--config", DIGITS, "--set", f"data.name={name}", "--set", "data.path=missing/here"]
    err = assert_refused(files, capsys, [*argv, "--set", "data.target=y"] if name == "csv" else argv, "looked in")
    assert str(files / "missing" / "here") in err, err
