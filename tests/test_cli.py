"""Bad input: exit status 2, one clear line, and nothing left behind (no MLflow run, no Optuna trial)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optflow.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "configs" / "digits.yaml")


def count_rows(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        exists = connection.execute("select count(*) from sqlite_master where name = ?", (table,)).fetchone()[0]
        return connection.execute(f"select count(*) from {table}").fetchone()[0] if exists else 0


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("OPTFLOW_STORAGE", raising=False)
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0, 1, 0, 1]}).to_csv(tmp_path / "no_target.csv", index=False)
    pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "y": [0, 1, 0, 1]}).to_csv(tmp_path / "nan.csv", index=False)
    return tmp_path


BAD_INPUT = {
    "unknown sampler": (["--sampler", "bayes"], "study.sampler must be one of "),
    "unknown optimizer": (["--set", "training.optimizer=rmsprop"], "training.optimizer must be one of adam, gd,"),
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
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(workdir, capsys, case):
    argv, expected = BAD_INPUT[case]
    code = main(["tune", "--config", DIGITS, *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("optflow: error: "), err
    assert expected in err
    assert count_rows(workdir / "mlflow.db", "runs") == 0
    assert count_rows(workdir / "optuna.db", "trials") == 0


def test_train_rejects_bad_input_the_same_way(workdir, capsys):
    assert main(["train", "--config", DIGITS, "--set", "training.lr=-1"]) == 2
    assert capsys.readouterr().err == "optflow: error: training.lr must be a float in (0, inf); got -1\n"


def test_password_in_storage_flag_is_refused_under_mlflow_run(workdir, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc")
    assert main(["tune", "--config", DIGITS, "--storage", "postgresql://u:hunter2@localhost/db"]) == 2
    err = capsys.readouterr().err
    assert "OPTFLOW_STORAGE" in err and "hunter2" not in err


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


def test_train_command_logs_one_run(workdir, capsys):
    code = main(["train", "--config", DIGITS, "--epochs", "3", "--log-models", "none", "--quiet"])
    assert code == 0
    assert "best val_loss = " in capsys.readouterr().out
    assert count_rows(workdir / "mlflow.db", "runs") == 1
    assert count_rows(workdir / "mlflow.db", "metrics") >= 3 * 4
    assert count_rows(workdir / "mlflow.db", "inputs") == 1  # the data set, recorded with log_inputs


def test_tune_prints_progress_and_a_table_of_the_best_trials(workdir, capsys):
    code = main(
        ["tune", "--config", DIGITS, "--n-trials", "3", "--epochs", "2", "--sampler", "random", "--no-tracking"]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "3/3" in captured.err  # the progress bar
    table = captured.out.split("best val_loss = ")[1].splitlines()[1:]
    assert table[0].split()[:2] == ["trial", "val_loss"]
    values = [float(line.split()[1]) for line in table[1:]]
    assert len(values) == 3 and values == sorted(values)


def test_quiet_prints_no_progress(workdir, capsys):
    assert main(["tune", "--config", DIGITS, "--n-trials", "2", "--epochs", "1", "--no-tracking", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "trial/s" not in captured.err and "trial    0" not in captured.out
