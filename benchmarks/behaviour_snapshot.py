"""What a study leaves behind, as one JSON file: to check that a refactoring changed no behaviour.

Runs `optflow tune` on a config in a fresh directory (SQLite for Optuna and MLflow) and records what users and
tools see: each Optuna trial's number, state, params, values and user-attr keys; each MLflow run's name, params,
tag keys (and the values of optflow's and Optuna's contract tags), metric keys with their steps, and artifact
paths. Ids, times, hosts and paths are left out, since they differ from run to run.

    python benchmarks/behaviour_snapshot.py --config configs/digits.yaml --n-trials 3 --epochs 3 > before.json
    # ... change the code ...
    python benchmarks/behaviour_snapshot.py --config configs/digits.yaml --n-trials 3 --epochs 3 > after.json
    diff before.json after.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# tags whose values vary from run to run (ids, hosts, pids, times, paths): only their presence is recorded
VARYING_TAGS = ("mlflow.", "optflow.worker", "optflow.best_trial_run_id", "optflow.storage", "optflow.device")


def _tag_value(key: str, value: str) -> str:
    return "<varies>" if key.startswith(VARYING_TAGS) else value


def _artifacts(client: Any, run_id: str, path: str = "") -> list[str]:
    found = []
    for entry in client.list_artifacts(run_id, path):
        found.extend(_artifacts(client, run_id, entry.path) if entry.is_dir else [entry.path])
    return sorted(found)


def snapshot(workdir: Path) -> dict[str, Any]:
    """The study's Optuna trials and MLflow runs, without what varies between runs."""
    import mlflow
    import optuna

    storage = f"sqlite:///{workdir / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "values": t.values,
            "intermediate": t.intermediate_values,
            "user_attrs": sorted(t.user_attrs),
        }
        for t in study.trials
    ]
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            runs.append(
                {
                    "name": run.info.run_name,
                    "status": run.info.status,
                    "params": dict(sorted(run.data.params.items())),
                    "tags": {k: _tag_value(k, v) for k, v in sorted(run.data.tags.items())},
                    "metrics": {
                        key: [m.step for m in client.get_metric_history(run.info.run_id, key)]
                        for key in sorted(run.data.metrics)
                    },
                    "artifacts": _artifacts(client, run.info.run_id),
                }
            )
    return {
        "study": summary.study_name,
        "user_attrs": sorted(study.user_attrs),
        "trials": trials,
        "runs": sorted(runs, key=lambda r: r["name"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/digits.yaml")
    parser.add_argument("--n-trials", default="3")
    parser.add_argument("--epochs", default="3")
    parser.add_argument("--source", default=str(ROOT), help="checkout whose optflow runs (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "PYTHONPATH": args.source, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
        command = [
            sys.executable, "-m", "optflow", "tune", "--config", str(Path(args.source) / args.config),
            "--n-trials", args.n_trials, "--epochs", args.epochs, "--storage", f"sqlite:///{workdir / 'optuna.db'}",
            "--quiet",
        ]  # fmt: skip
        subprocess.run(command, cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
        text = json.dumps(snapshot(workdir), indent=1, sort_keys=True, default=str)
        print(text.replace(str(workdir), "<workdir>"))


if __name__ == "__main__":
    main()
