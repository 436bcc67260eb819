"""A study of several objectives with a constraint, through the real command: `optflow tune` as a process."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from processes import CHEAP_TRAINING, SMALL_DATA, finish, tune

from optflow.search.ranking import is_feasible

N_TRIALS = 12


@pytest.fixture(scope="module")
def finished(tmp_path_factory, migrated_mlflow_db):
    tmp = tmp_path_factory.mktemp("mo")
    migrated_mlflow_db(tmp)
    config = {
        "study": {
            "name": "mo",
            "sampler": "gp",
            "n_trials": N_TRIALS,
            "pruner": "median",  # turned off, with one line saying why
            "log_models": "best",
            "pareto_models": 2,
            "objectives": ["n_params"],
            "constraints": ["val_accuracy >= 0.3"],
        },
        "data": SMALL_DATA,
        "training": CHEAP_TRAINING,
        "search": {
            "lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
            "kind": {"type": "categorical", "choices": ["linear", "mlp"]},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        },
    }
    path = tmp / "mo.yaml"
    path.write_text(yaml.safe_dump(config))
    storage, tracking = f"sqlite:///{tmp}/optuna.db", f"sqlite:///{tmp}/mlflow.db"
    output = finish(tune(path, storage, tracking, "--artifact-dir", str(tmp / "store"), quiet=False))
    return output, optuna.load_study(study_name="mo", storage=storage), MlflowClient(tracking)


def test_the_study_has_two_directions_constraints_and_no_pruning(finished):
    output, study, _ = finished
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_loss", "n_params"]
    assert "study.pruner median is off: Optuna defines pruning for one objective" in output
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == N_TRIALS
    assert all(set(t.constraints) == {"val_accuracy >= 0.3"} for t in complete)
    assert all(not t.intermediate_values for t in complete)  # nothing reported: no pruning possible
    assert len({t.values[1] for t in complete}) == 2  # linear models and MLPs were both tried


def test_the_pareto_front_is_printed_marked_on_runs_and_tabled(finished):
    output, study, client = finished
    front = sorted((t for t in study.best_trials if is_feasible(t)), key=lambda t: t.values[0])
    assert front
    assert f"Pareto front ({len(front)} trials):" in output
    experiment = client.get_experiment_by_name("mo")
    runs = client.search_runs([experiment.experiment_id])
    children = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    marked = sorted(name for name, r in children.items() if r.data.tags.get("optflow.pareto") == "true")
    assert marked == sorted(f"trial-{t.number:04d}" for t in front)
    assert all(children[f"trial-{t.number:04d}"].data.metrics["n_params"] == t.values[1] for t in study.trials)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    table = client.download_artifacts(parent.info.run_id, "study/pareto_front.csv")
    rows = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert [int(row["trial"]) for row in rows] == [t.number for t in front]
    assert [float(row["n_params"]) for row in rows] == [t.values[1] for t in front]
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/pareto_front.png" in plots and "plots/intermediate_values.png" not in plots
    assert "Pareto front" in parent.data.tags["mlflow.note.content"]


def test_one_model_per_pareto_trial_up_to_the_cap(finished):
    _, study, client = finished
    front = sorted((t for t in study.best_trials if is_feasible(t)), key=lambda t: t.values[0])
    experiment = client.get_experiment_by_name("mo")
    models = client.search_logged_models([experiment.experiment_id])
    runs = {r.info.run_id: r.info.run_name for r in client.search_runs([experiment.experiment_id])}
    logged = sorted(runs[m.source_run_id] for m in models)
    assert logged == sorted(f"trial-{t.number:04d}" for t in front[:2])
