"""Regenerate the docs' pictures from a real study: `python docs/make_images.py`.

Runs a 30-trial GP study on digits in a temporary directory and copies the study run's PNG plots and the
best trial's loss curve to docs/images/, then compares random, tpe and gp on the same task (3 seeds).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from mlflow import MlflowClient

import optflow
from optflow.compare import default_target, log_comparison, run_comparison

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
STUDY_PLOTS = (
    "optimization_history",
    "intermediate_values",
    "param_importances",
    "parallel_coordinate",
    "best_loss_curves",
)


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = optflow.load_config(
            ROOT / "configs" / "digits.yaml",
            {"study.n_trials": 30, "study.storage": f"sqlite:///{tmp}/optuna.db", "study.log_models": "none"},
        )
        uri = f"sqlite:///{tmp}/mlflow.db"
        result = optflow.tune(config, tracking_uri=uri)
        client = MlflowClient(uri)
        for name in STUDY_PLOTS:
            path = client.download_artifacts(result.study_run_id, f"plots/{name}.png", tmp)
            shutil.copy(path, IMAGES / f"{name}.png")
        experiment = client.get_run(result.study_run_id).info.experiment_id
        best = client.search_runs(
            [experiment], f"tags.mlflow.parentRunId = '{result.study_run_id}'", order_by=["metrics.best_val_loss ASC"]
        )[0]
        shutil.copy(client.download_artifacts(best.info.run_id, "loss_curve.png", tmp), IMAGES / "loss_curve.png")

        results = run_comparison(config, ["random", "tpe", "gp"], seeds=3, quiet=True)
        compare_run = log_comparison(uri, config, results, default_target(results), seeds=3)
        path = client.download_artifacts(compare_run, "compare/best_so_far.png", tmp)
        shutil.copy(path, IMAGES / "compare_best_so_far.png")
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(IMAGES.glob("*.png"))))


if __name__ == "__main__":
    main()
