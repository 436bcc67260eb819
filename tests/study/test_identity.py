"""A study is one task: joining it with another data set, space or training is refused before anything is made;
a new sampler, pruner or budget is allowed, said and recorded; a spent budget says so and runs nothing."""

from __future__ import annotations

import optuna
import pytest
from conftest import ROOT, count_rows
from mlflow import MlflowClient

from optflow.cli import main

DIGITS = str(ROOT / "configs" / "digits.yaml")
BASE = ["tune", "--config", DIGITS, "--epochs", "2", "--quiet"]


def runs(workdir) -> list:
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    return client.search_runs([client.get_experiment_by_name("digits").experiment_id])


@pytest.fixture(scope="module")
def recorded_session(tmp_path_factory, migrated_mlflow_db):
    """A 2-trial study of digits with random search, run once for the module: its databases are the template."""
    import os

    directory = tmp_path_factory.mktemp("identity")
    migrated_mlflow_db(directory)
    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "OPTFLOW_STORAGE", "MLFLOW_RUN_ID")}
    cwd = os.getcwd()
    try:
        os.chdir(directory)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{directory}/mlflow.db"
        os.environ.pop("OPTFLOW_STORAGE", None)
        os.environ.pop("MLFLOW_RUN_ID", None)
        assert main([*BASE, "--sampler", "random", "--n-trials", "2", "--log-models", "none"]) == 0
    finally:
        os.chdir(cwd)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        import mlflow

        mlflow.set_tracking_uri(None)
    return directory


@pytest.fixture
def first_session(recorded_session, workdir, capsys):
    """This test's copy of the recorded 2-trial study (both databases; artifacts stay where they were logged)."""
    import shutil

    for path in [*recorded_session.glob("mlflow.db*"), *recorded_session.glob("optuna.db*")]:  # with WAL files
        shutil.copy(path, workdir / path.name)
    capsys.readouterr()
    return workdir


@pytest.mark.parametrize(
    "change,field,before,now",
    [
        (["--data", "wine"], "data.name", "'digits'", "'wine'"),
        (["--set", "search.lr.log=false"], "search.lr", '"log": true', '"log": false'),
        (
            ["--set", "search.dropout={type: categorical, choices: [0.0, 0.5]}"],
            "search.dropout",
            "float",
            "categorical",
        ),
        (["--epochs", "3"], "training.epochs", "2", "3"),
        (["--metric", "val_accuracy"], "study.metric", "'val_loss'", "'val_accuracy'"),
        (["--set", "data.val_fraction=0.3"], "data.rows", None, None),  # another split: other rows
    ],
)
def test_joining_with_another_task_is_refused_and_makes_nothing(first_session, capsys, change, field, before, now):
    workdir = first_session
    trials_before, runs_before = count_rows(workdir / "optuna.db", "trials"), len(runs(workdir))
    assert main([*BASE, "--sampler", "random", "--n-trials", "4", *change]) == 2  # a flag given twice: the last wins
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("optflow: error: study 'digits' was made for another task: ")
    if field == "data.rows":
        assert "data.digest was" in err  # the same rows count is possible; the values differ
    else:
        assert f"{field} was " in err and before in err and now in err
    assert err.rstrip().endswith("give the new task another study name (--study-name, or study.name)")
    assert count_rows(workdir / "optuna.db", "trials") == trials_before and len(runs(workdir)) == runs_before


def test_a_new_sampler_and_budget_are_allowed_said_and_tagged(first_session, capsys):
    workdir = first_session
    assert main([*BASE, "--sampler", "tpe", "--n-trials", "3", "--log-models", "none"]) == 0
    err = capsys.readouterr().err
    assert "optflow: study 'digits': sampler random -> tpe, n_trials 2 -> 3 from trial 2 on" in err
    (parent,) = [run for run in runs(workdir) if "mlflow.parentRunId" not in run.data.tags]
    assert parent.data.tags["optflow.change.2.sampler"] == "random -> tpe"
    assert parent.data.tags["optflow.change.2.n_trials"] == "2 -> 3"
    assert parent.data.tags["optflow.sampler"] == "tpe"
    assert len(optuna.load_study(study_name="digits", storage=f"sqlite:///{workdir}/optuna.db").trials) == 3


def test_a_spent_budget_says_so_and_runs_nothing(first_session, capsys):
    workdir = first_session
    before = {run.info.run_id: (run.info.status, run.info.end_time) for run in runs(workdir)}
    assert main([*BASE[:-1], "--sampler", "random", "--n-trials", "2"]) == 0  # not quiet: no bar either
    captured = capsys.readouterr()
    assert captured.out == "study 'digits' has 2 of 2 trials; raise --n-trials to run more\n"
    assert "trial/s" not in captured.err and "%" not in captured.err
    after = {run.info.run_id: (run.info.status, run.info.end_time) for run in runs(workdir)}
    assert after == before  # no run made, none reopened


def test_a_session_that_runs_nothing_changes_no_setting(first_session, capsys):
    """A spent budget runs nothing, so its other sampler and budget are not the study's: the next session that
    runs trials reports its changes against the settings the trials ran under."""
    workdir = first_session
    assert main([*BASE, "--sampler", "tpe", "--n-trials", "1", "--log-models", "none"]) == 0  # spent: runs nothing
    assert "->" not in capsys.readouterr().err
    assert main([*BASE, "--sampler", "random", "--n-trials", "3", "--log-models", "none"]) == 0
    assert "optflow: study 'digits': n_trials 2 -> 3 from trial 2 on" in capsys.readouterr().err
    (parent,) = [run for run in runs(workdir) if "mlflow.parentRunId" not in run.data.tags]
    changes = {key: value for key, value in parent.data.tags.items() if key.startswith("optflow.change.")}
    assert changes == {"optflow.change.2.n_trials": "2 -> 3"}
