"""Every project in examples/ runs with a tiny budget: the user-model project through `mlflow run . -P config=...`
as its README says, the built-in families' examples through the same command in-process."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from processes import mlflow_run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.relative_to(ROOT) for p in (ROOT / "examples").glob("*/config.yaml"))


def test_every_example_is_listed_here():
    names = [p.parent.name for p in EXAMPLES]
    assert names == ["char_lm", "cnn_digits", "own_loop", "pareto_cnn", "user_model"]


@pytest.mark.parametrize("config", [p for p in EXAMPLES if p.parent.name != "user_model"], ids=lambda p: p.parent.name)
def test_the_example_runs_with_a_tiny_budget(workdir, monkeypatch, config):
    """The other examples, in-process (the command is the same as under `mlflow run`, whose working directory,
    the project, is what makes `examples.own_loop.loop:run` importable)."""
    from optflow.cli import main

    monkeypatch.syspath_prepend(str(ROOT))
    raw = yaml.safe_load((ROOT / config).read_text())
    tiny = ["--set", "objective.params.epochs=2"] if "objective" in raw else ["--epochs", "1"]
    if raw.get("data", {}).get("name") == "text":
        tiny += ["--set", "data.max_chars=6000"]
    if raw["study"].get("constraints"):  # one epoch meets no accuracy bound: exit 4, no best trial
        tiny += ["--set", "study.constraints=[]"]
    assert main(["tune", "--config", str(ROOT / config), "--n-trials", "2", *tiny, "--quiet"]) == 0
    study = optuna.load_study(study_name=raw["study"]["name"], storage="sqlite:///optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2


@pytest.mark.slow
def test_the_user_model_example_runs_under_mlflow_run(tmp_path):
    config = Path("examples/user_model/config.yaml")
    name = yaml.safe_load((ROOT / config).read_text())["study"]["name"]
    params = {"config": config, "n_trials": 3, "epochs": 2, "storage": f"sqlite:///{tmp_path}/optuna.db"}
    result = mlflow_run(ROOT, tmp_path, "examples", params)
    assert result.returncode == 0, result.stdout + result.stderr
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("examples").experiment_id])
    trial_runs = [r for r in runs if "optuna.trial_number" in r.data.tags]
    assert len(trial_runs) == 3 and all(r.info.status == "FINISHED" for r in trial_runs)
    searched = set(yaml.safe_load((ROOT / config).read_text())["search"])
    assert all(searched <= set(r.data.params) for r in trial_runs)  # the factory's params too
