"""The seams of docs/architecture.md, held in fresh interpreters: each layer loads only what it may know."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "optuna", "mlflow")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement,forbidden",
    [
        ("import optflow.training", {"optuna", "mlflow"}),  # the trainer knows nothing of Optuna or MLflow
        ("import optflow.search.samplers, optflow.search.pruners", {"mlflow"}),  # samplers know only Optuna
        ("import optflow.search.samplers.gp", {"mlflow", "torch"}),  # the GP sampler: numpy and scipy
        ("import optflow.config", {"torch", "optuna", "mlflow"}),  # validating input is cheap
        (  # which fields act, and the names of optimisers, models and data sets, are known without torch
            "from optflow.config import build_config; from optflow.config.applies import applies; "
            "applies(build_config({'training': {'optimizer': 'adam'}, 'model': {'kind': 'cnn'}}), 'model.hidden')",
            {"torch", "optuna", "mlflow"},
        ),
        ("import optflow", {"torch", "optuna", "mlflow"}),  # the API loads its layers on first use
    ],
)
def test_a_layer_loads_nothing_it_must_not_know(statement, forbidden):
    assert not loaded_after(statement) & forbidden


def test_tracking_imports_neither_the_trainer_nor_the_study():
    """Tracking sits after training in the data flow: it is handed records and outcomes, never calls back."""
    code = (
        "import sys, optflow.tracking.tracker, optflow.tracking.train_tracker, optflow.tracking.model_artifact\n"
        "print(' '.join(m for m in sys.modules if m.startswith(('optflow.training', 'optflow.study'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == []


def test_the_cli_reports_bad_input_before_loading_torch(tmp_path):
    """`optflow tune --sampler bayes` answers from the config layer alone: fast, whatever is installed."""
    code = (
        "import sys; from optflow.cli import main\n"
        "code = main(['tune', '--sampler', 'bayes', '--no-tracking'])\n"
        "print(code, ' '.join(m for m in ('torch', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path).stdout
    assert out.split() == ["2"]
