"""The user's own training loop: optflow searches its arguments, records every reported epoch in Optuna and
MLflow, prunes inside the loop, logs the files it hands back, and refuses what it cannot use in one line."""

from __future__ import annotations

import sys
import textwrap

import optuna
import pytest
import yaml
from conftest import count_rows
from mlflow import MlflowClient

from optflow.cli import main

LOOPS = '''
import optuna

SEEN = []

def quadratic(params, reporter):
    """A loop whose value falls each epoch towards (x - 2)^2."""
    for epoch in range(params["epochs"]):
        value = (params["x"] - 2) ** 2 + 1.0 / (epoch + 1)
        reporter.epoch({"score": value, "val_loss": value, "grad_norm": 0.5 * epoch})
    with open(f"notes-{reporter.trial_number}.txt", "w") as f:
        f.write(str(params))
    return [f"notes-{reporter.trial_number}.txt"]

def watched(params, reporter):
    """Records how far it got, to tell that pruning stopped it inside the loop."""
    try:
        for epoch in range(params["epochs"]):
            reporter.epoch({"score": float(reporter.trial_number >= 5)})
            SEEN.append((reporter.trial_number, epoch))
    except optuna.TrialPruned:
        SEEN.append((reporter.trial_number, "pruned"))
        raise

def streamed(params, reporter):
    """Waits, at its third epoch, until its own run shows the first two epochs: they were sent while it ran."""
    import time
    from mlflow import MlflowClient

    client = MlflowClient()

    def scores_logged():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # as a user watching the UI would: the run's history, polled
            experiment = client.get_experiment_by_name("own")
            query = f"tags.`optuna.trial_number` = '{reporter.trial_number}'"
            runs = client.search_runs([experiment.experiment_id], query) if experiment else []
            if runs:
                return len(client.get_metric_history(runs[0].info.run_id, "score"))
            time.sleep(0.05)

    scores_logged()  # a long trial's first epoch ends long after its run was made
    for epoch in range(4):
        if epoch == 2:
            deadline = time.monotonic() + 60
            while scores_logged() < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            SEEN.append(("streamed", scores_logged()))
        reporter.epoch({"score": float(epoch)})


def silent(params, reporter):
    reporter.epoch({"accuracy": 0.5})

def one_argument(params):
    return None
'''


@pytest.fixture
def loops(workdir, monkeypatch):
    (workdir / "loops.py").write_text(textwrap.dedent(LOOPS))
    monkeypatch.syspath_prepend(str(workdir))
    yield workdir
    sys.modules.pop("loops", None)


def config(workdir, function="loops:quadratic", **study):
    raw = {
        "study": {
            "name": "own",
            "sampler": "random",
            "n_trials": 4,
            "metric": "score",
            "direction": "minimize",
            **study,
        },
        "objective": {"function": function, "params": {"epochs": 8 if function == "loops:watched" else 5, "x": 0.0}},
        "search": {"x": {"type": "float", "low": -4.0, "high": 4.0}},
    }
    path = workdir / "own.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_an_own_loop_is_searched_tracked_and_its_files_kept(loops, capsys):
    assert main(["tune", "--config", config(loops), "--quiet"]) == 0
    study = optuna.load_study(study_name="own", storage="sqlite:///optuna.db")
    client = MlflowClient()
    for trial in study.trials:
        x = trial.params["x"]
        expected = [(x - 2) ** 2 + 1.0 / (epoch + 1) for epoch in range(5)]
        assert [trial.intermediate_values[e] for e in range(5)] == pytest.approx(expected)
        assert trial.value == pytest.approx(expected[-1])
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FINISHED"
        assert run.data.params == {"epochs": "5", "x": str(x)}  # the arguments it was called with
        history = client.get_metric_history(run.info.run_id, "grad_norm")  # a metric optflow does not know
        assert [m.value for m in history] == [0.5 * e for e in range(5)] and [m.step for m in history] == [
            0,
            1,
            2,
            3,
            4,
        ]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {f"notes-{trial.number}.txt", "loss_curve.png", "config.yaml"} <= artifacts


def test_the_pruner_stops_the_loop_inside_it(loops):
    """Trials 0-4 score 0 and set the median; trials 5 and 6 score 1 and are stopped at the first epoch the
    median pruner judges (after 5 trials and 5 warm-up epochs), inside the user's loop."""
    assert main(["tune", "--config", config(loops, "loops:watched", pruner="median", n_trials=7), "--quiet"]) == 0
    import loops as module

    study = optuna.load_study(study_name="own", storage="sqlite:///optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5 + ["PRUNED"] * 2
    for trial in study.trials[5:]:
        assert sorted(trial.intermediate_values) == [0, 1, 2, 3, 4, 5]
        assert (trial.number, "pruned") in module.SEEN and (trial.number, 5) not in module.SEEN  # stopped there
        run = MlflowClient().get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FINISHED" and run.data.tags["optflow.pruned_at_epoch"] == "5"


def test_a_loop_that_does_not_report_the_metric_fails_its_trials_with_the_reason(loops, capsys):
    assert main(["tune", "--config", config(loops, "loops:silent", n_trials=1), "--quiet"]) == 4  # none completed
    (trial,) = optuna.load_study(study_name="own", storage="sqlite:///optuna.db").trials
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["fail_reason"].endswith(
        "objective reported no 'score' (study.metric) at epoch 0; got ['accuracy']"
    )


@pytest.mark.parametrize(
    "function,changes,expected",
    [
        ("loops:one_argument", {}, "objective.function must take (params, reporter); got 'loops:one_argument'"),
        ("loops:quadratic", {"direction": "auto"}, "study.direction must be minimize or maximize for metric 'score'"),
        ("loops:missing", {}, "objective.function must name an attribute of module loops"),
        (
            "loops:quadratic",
            {"metrics": ["loops:quadratic"]},
            "study.metrics must be empty with objective.function (your loop computes its own loss and reports",
        ),
    ],
)
def test_what_an_own_loop_cannot_use_is_refused_before_anything_is_made(loops, capsys, function, changes, expected):
    assert main(["tune", "--config", config(loops, function, **changes), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert count_rows(loops / "mlflow.db", "runs") == 0 and count_rows(loops / "optuna.db", "studies") == 0


def test_optflow_train_replays_the_best_trial_of_an_own_loop(loops, capsys):
    assert main(["tune", "--config", config(loops), "--quiet"]) == 0
    study = optuna.load_study(study_name="own", storage="sqlite:///optuna.db")
    best_config = loops / "optuna_artifacts" / "own" / "best_config.yaml"
    capsys.readouterr()
    assert main(["train", "--config", str(best_config), "--quiet"]) == 0
    assert f"best score = {study.best_value:.6g}" in capsys.readouterr().out


def test_a_long_trials_epochs_reach_mlflow_while_it_runs(loops, monkeypatch):
    """With `OPTFLOW_STREAM_SECONDS=0` every epoch is sent at once; the loop itself sees them in MLflow."""
    monkeypatch.setenv("OPTFLOW_STREAM_SECONDS", "0")
    assert main(["tune", "--config", config(loops, "loops:streamed", n_trials=1), "--quiet"]) == 0
    import loops as module

    assert module.SEEN == [("streamed", 2)]  # epochs 0 and 1 were in MLflow while epoch 2 ran
    (trial,) = optuna.load_study(study_name="own", storage="sqlite:///optuna.db").trials
    history = MlflowClient().get_metric_history(trial.user_attrs["mlflow_run_id"], "score")
    assert sorted((m.step, m.value) for m in history) == [(e, float(e)) for e in range(4)]  # each epoch once
