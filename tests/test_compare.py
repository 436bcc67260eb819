"""`optflow compare`: one comparison run with a best-so-far curve per sampler, trials-to-target and a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from optflow.cli import main
from optflow.compare import best_so_far, trials_to_reach

ROOT = Path(__file__).resolve().parents[1]


def test_best_so_far_and_trials_to_reach():
    curve = best_so_far([3.0, None, 2.0, 2.5, 1.0], maximize=False)
    np.testing.assert_array_equal(curve, [3.0, 3.0, 2.0, 2.0, 1.0])
    assert trials_to_reach(curve, 2.0, maximize=False) == 3
    assert trials_to_reach(curve, 0.5, maximize=False) is None
    assert list(best_so_far([0.2, 0.9, 0.5], maximize=True)) == [0.2, 0.9, 0.9]


def test_compare_logs_one_curve_per_sampler(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    argv = [
        "compare",
        "--config",
        str(ROOT / "configs" / "digits.yaml"),
        "--samplers",
        "random,tpe,grid",
        "--n-trials",
        "4",
        "--seeds",
        "2",
        "--data",
        "iris",
        "--epochs",
        "2",
        "--tracking-uri",
        uri,
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "trials to target" in out and all(name in out for name in ("random", "tpe", "grid"))

    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("digits-compare").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["samplers"] == "random,tpe,grid"
    for sampler in ("random", "tpe", "grid"):
        history = client.get_metric_history(run.info.run_id, f"best_so_far_median.{sampler}")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 1, 2, 3]
        values = [m.value for m in sorted(history, key=lambda m: m.step)]
        assert values == sorted(values, reverse=True)  # best-so-far of a loss never rises
    files = {a.path for a in client.list_artifacts(run.info.run_id, "compare")}
    assert files == {"compare/best_so_far.png", "compare/summary.csv", "compare/summary.txt"}
    with Image.open(client.download_artifacts(run.info.run_id, "compare/best_so_far.png", str(tmp_path))) as image:
        assert image.width >= 300 and image.height >= 200


def test_compare_rejects_an_unknown_sampler(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--samplers", "random,bayes", "--no-tracking"]) == 2
    assert capsys.readouterr().err.startswith("optflow: error: --samplers must be one of ")


def test_compare_refuses_several_objectives(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--set", "study.objectives=[n_params]", "--no-tracking"]) == 2
    assert (
        capsys.readouterr().err
        == "optflow: error: study.objectives must be empty for optflow compare; got ['n_params']\n"
    )
    assert not (tmp_path / "optuna.db").exists()  # nothing made


@pytest.mark.parametrize("seeds", ["0"])
def test_compare_needs_a_seed(tmp_path, monkeypatch, capsys, seeds):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--seeds", seeds, "--no-tracking"]) == 2


def test_the_best_by_epochs_is_a_step_function_of_the_epochs_spent():
    from optflow.compare import SamplerResult, by_epochs, epochs_to_reach

    result = SamplerResult(
        "random-sha",
        curves=np.array([[3.0, 2.0, 1.0]]),
        seconds_per_trial=0.1,
        epochs=np.array([[2.0, 6.0, 16.0]]),  # trials of 2, 4 and 10 epochs
        pruner="sha",
    )
    grid = np.array([0.0, 1.0, 2.0, 5.0, 6.0, 15.0, 16.0, 20.0])
    # NaN before the first trial ended and past the last: the line ends where the strategy stopped spending
    np.testing.assert_array_equal(by_epochs(result, grid)[0], [np.nan, np.nan, 3.0, 3.0, 2.0, 2.0, 1.0, np.nan])
    assert epochs_to_reach(result, 2.0, maximize=False) == [6.0]
    assert epochs_to_reach(result, 0.5, maximize=False) == [None]


def test_a_seed_that_never_reaches_the_target_counts_as_never_in_the_median():
    from optflow.compare import median_to_target

    assert median_to_target([10.0, 20.0, None]) == 20.0  # not 15: the third seed is slower than both
    assert median_to_target([10.0, None, None]) is None  # most seeds never got there
    assert median_to_target([]) is None


def test_compare_pruners_by_the_epochs_they_spend(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    argv = ["compare", "--config", str(ROOT / "configs" / "digits.yaml"), "--samplers", "random",
            "--pruners", "none,sha", "--n-trials", "6", "--seeds", "2", "--data", "iris", "--epochs", "9",
            "--tracking-uri", uri, "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip().startswith("random-")}
    assert set(rows) == {"random-none", "random-sha"} and "epochs spent" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("sampler")).split("  ")
    spent = [h.strip() for h in header if h.strip()].index("epochs spent")
    assert float(rows["random-none"][spent]) == 6 * 9  # no pruning: every trial runs every epoch
    assert float(rows["random-sha"][spent]) < 6 * 9  # successive halving stops some at 2 or 4
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("digits-compare").experiment_id])
    files = {a.path for a in client.list_artifacts(run.info.run_id, "compare")}
    assert "compare/best_by_epochs.png" in files
    assert run.data.metrics["epochs_spent.random-none"] == 6 * 9
