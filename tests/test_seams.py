"""The seams of docs/architecture.md, held in fresh interpreters: each layer loads only what it may know."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


# What each layer's modules may never import, lazily inside a function included: data flows config -> search ->
# study -> trainer -> records -> tracking (docs/architecture.md), and nothing calls back up the flow.
FORBIDDEN_IMPORTS = {
    "config": ("torch", "optuna", "mlflow", "optflow.data", "optflow.models", "optflow.training", "optflow.search"),
    "data": ("optuna", "mlflow", "optflow.search", "optflow.study", "optflow.tracking"),
    "models": ("optuna", "mlflow", "optflow.search", "optflow.study", "optflow.tracking"),
    "training": ("optuna", "mlflow", "optflow.search", "optflow.study", "optflow.tracking"),
    "search": ("mlflow", "optflow.training", "optflow.study", "optflow.tracking"),
    "tracking": ("optflow.training", "optflow.study"),
}


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, and each name taken from one (`from optflow import study` is
    `optflow.study`), relative imports resolved against the file's package."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found += [(node.lineno, module), *((node.lineno, f"{module}.{alias.name}") for alias in node.names)]
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_IMPORTS))
def test_a_layer_never_imports_what_comes_after_it(layer):
    """A static walk of every import statement, so an import inside a function (run only on some path) is
    held to the contract too; the fresh-interpreter tests above hold what a plain import loads."""
    forbidden = FORBIDDEN_IMPORTS[layer]
    crossings = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "optflow" / layer).rglob("*.py"))
        for line, name in imported_names(path)
        if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    ]
    assert crossings == []
