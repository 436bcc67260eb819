"""The command line as a user meets it: progress, tables, quiet, one training run, flags and overrides."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest
from conftest import count_rows

from optflow.cli import main
from optflow.errors import EXIT_INTERRUPTED, EXIT_NO_RESULT

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "configs" / "digits.yaml")


def test_train_command_logs_one_run(workdir, capsys):
    code = main(["train", "--config", DIGITS, "--epochs", "3", "--log-models", "none", "--quiet"])
    assert code == 0
    assert "best val_loss = " in capsys.readouterr().out
    assert count_rows(workdir / "mlflow.db", "runs") == 1
    assert count_rows(workdir / "mlflow.db", "metrics") >= 3 * 4
    assert count_rows(workdir / "mlflow.db", "inputs") == 1  # the data set, recorded with log_inputs


def test_tune_prints_progress_and_a_table_of_the_best_trials(workdir, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: the bar is drawn
    code = main(
        ["tune", "--config", DIGITS, "--n-trials", "3", "--epochs", "2", "--sampler", "random", "--no-tracking"]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "3/3" in captured.err  # the progress bar
    summary, rest = captured.out.split("best val_loss = ")[1].split("\nnext:\n")
    table = summary.splitlines()[1:]
    assert table[0].split()[:2] == ["trial", "val_loss"]
    values = [float(line.split()[1]) for line in table[1:]]
    assert len(values) == 3 and values == sorted(values)
    assert f"optflow dashboard --storage sqlite:///optuna.db --artifact-dir {workdir / 'optuna_artifacts'}" in rest
    best_config = workdir / "optuna_artifacts" / "digits" / "best_config.yaml"
    assert f"best config:       {best_config}   (replay: optflow train --config {best_config})" in rest
    assert best_config.read_text().startswith(f"# best trial {table[1].split()[0]} of study digits: val_loss = ")


def test_quiet_prints_no_progress(workdir, capsys):
    assert main(["tune", "--config", DIGITS, "--n-trials", "2", "--epochs", "1", "--no-tracking", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "trial/s" not in captured.err and "trial    0" not in captured.out


def test_conditional_params_are_sampled_exactly_when_their_condition_holds(workdir):
    """digits.yaml lists `gamma` (when the schedule is exponential or step) after `schedule`, and an override
    rewrites the config: every trial must show gamma exactly when its schedule uses it."""
    code = main(["tune", "--config", DIGITS, "--sampler", "random", "--n-trials", "16", "--epochs", "1",
                 "--no-tracking", "--quiet", "--set", "training.early_stopping_patience=0"])  # fmt: skip
    assert code == 0
    trials = optuna.load_study(study_name="digits", storage=f"sqlite:///{workdir}/optuna.db").trials
    for trial in trials:
        schedule = trial.params["schedule"]
        assert ("gamma" in trial.params) == (schedule in ("exponential", "step")), trial.params
        assert ("decay_rate" in trial.params) == (schedule == "inverse_time"), trial.params
    assert any("gamma" in t.params for t in trials) and any("decay_rate" in t.params for t in trials)


def test_flag_values_are_taken_as_given_not_as_yaml(workdir, capsys):
    argv = ["tune", "--config", DIGITS, "--n-trials", "1", "--epochs", "1", "--no-tracking", "--quiet"]
    assert main([*argv, "--study-name", "exp #3", "--experiment", "on"]) == 0
    assert main([*argv, "--study-name", "2024"]) == 0
    assert main([*argv, "--set", "study.name=my study  training.lr=0.01"]) == 0
    out = capsys.readouterr().out
    assert "study exp #3: " in out and "study 2024: " in out and "study my study: " in out
    names = {s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{workdir}/optuna.db")}
    assert names == {"exp #3", "2024", "my study"}


def test_a_study_whose_trials_all_break_a_constraint_says_so_and_exits_4(workdir, capsys):
    """Every trial completes, none is feasible: there is no best trial, and a script must not go on as if."""
    code = main(["tune", "--config", DIGITS, "--sampler", "random", "--n-trials", "2", "--epochs", "1",
                 "--no-tracking", "--quiet", "--set", "study.constraints=[n_params <= 1]"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_NO_RESULT
    assert "study digits: 2 complete of 2 trials; best val_loss = none" in captured.out
    assert "no complete trial of study 'digits' met every constraint (n_params <= 1)" in captured.err
    assert not (workdir / "optuna_artifacts" / "digits" / "best_config.yaml").exists()


def test_register_model_on_a_finished_study_registers_its_best_model(workdir, capsys):
    """`--register-model` after the study ended: nothing runs, and the best model it logged is registered."""
    first = ["tune", "--config", DIGITS, "--sampler", "random", "--n-trials", "2", "--epochs", "1", "--quiet"]
    assert main(first) == 0
    capsys.readouterr()
    assert main([*first, "--register-model", "digits-mlp"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "study 'digits' has 2 of 2 trials; raise --n-trials to run more"
    assert out[1].startswith("best model models:/m-") and out[1].endswith("is registered as 'digits-mlp'")
    from mlflow import MlflowClient

    (version,) = MlflowClient(f"sqlite:///{workdir}/mlflow.db").search_model_versions("name = 'digits-mlp'")
    assert version.source.endswith(out[1].split()[2].removeprefix("models:/"))


def test_without_a_terminal_there_is_a_line_per_trial_and_no_bar(workdir, capsys):
    """Output to a log file or CI: the bar's frames would fill it; the trial lines and the summary stay."""
    code = main(["tune", "--config", DIGITS, "--n-trials", "3", "--epochs", "1", "--sampler", "random",
                 "--no-tracking"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert "trial/s" not in captured.err and "3/3" not in captured.err and "%|" not in captured.err
    assert [line.split()[:2] for line in captured.out.splitlines()[:3]] == [["trial", str(n)] for n in range(3)]


def _interrupted_while_trial_2_runs(config, options):
    options.reporter.interrupted.append(2)  # as the reporter hears of a trial Ctrl-C stopped
    raise KeyboardInterrupt


def _interrupted_while_training(config, options, on_epoch=None):
    raise KeyboardInterrupt


@pytest.mark.parametrize("tracking", [True, False])
def test_an_interrupt_speaks_of_mlflow_runs_only_when_there_are_some(workdir, capsys, monkeypatch, tracking):
    monkeypatch.setattr("optflow.study.study.run_study", _interrupted_while_trial_2_runs)
    monkeypatch.setattr("optflow.study.single_run.run_training", _interrupted_while_training)
    flags = [] if tracking else ["--no-tracking"]
    assert main(["tune", "--config", DIGITS, *flags]) == EXIT_INTERRUPTED
    tune = capsys.readouterr().err
    assert main(["train", "--config", DIGITS, *flags]) == EXIT_INTERRUPTED
    train = capsys.readouterr().err
    assert "trial 2" in tune and "rerun" in tune
    assert ("KILLED" in tune) is tracking and ("KILLED" in train) is tracking
    assert ("run" in train.replace("rerun", "")) is tracking
