"""The model a user takes away predicts on raw data in the user's terms, and scores as the study reported:
reloaded with pyfunc from SQLite, it takes the raw feature columns (text as text) and gives class labels or
target values; `mlflow models serve` gives the same answers over HTTP."""

from __future__ import annotations

import json
import sys
import urllib.request

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from conftest import ROOT, free_port, start_server, stop_server
from mlflow import MlflowClient

from optflow.cli import main
from optflow.config import load_config
from optflow.data import load_dataset

pytestmark = pytest.mark.slow


def text_csv(path) -> str:
    """A table with a text feature and text labels, where the text column matters."""
    rng = np.random.default_rng(3)
    color = rng.choice(["red", "green", "blue"], 240)
    size = rng.normal(size=240)
    label = np.where((color == "red") | (size > 0.8), "buy", "skip")
    pd.DataFrame({"size": size, "color": color, "weight": rng.normal(size=240), "label": label}).to_csv(
        path, index=False
    )
    return str(path)


CASES = {
    "digits": ("digits.yaml", ["--metric", "val_accuracy"], "val_accuracy"),
    "diabetes": ("diabetes.yaml", [], "val_rmse"),
    "csv with text": (
        "digits.yaml",
        ["--metric", "val_accuracy", "--set", "data.name=csv data.target=label"],
        "val_accuracy",
    ),
    "cnn on digits images": (
        "digits.yaml",
        ["--metric", "val_accuracy", "--data", "digits_images", "--set", "model.kind=cnn training.optimizer=adam"],
        "val_accuracy",
    ),
}


@pytest.fixture(scope="module")
def studies(tmp_path_factory, migrated_mlflow_db):
    """case -> a small study logged to SQLite, its best model registered (each made once, when first asked)."""
    made: dict[str, tuple] = {}

    def study(case: str) -> tuple:
        if case not in made:
            directory = tmp_path_factory.mktemp(case.replace(" ", "_"))
            migrated_mlflow_db(directory)
            made[case] = run_study(case, directory)
        return made[case]

    yield study
    mlflow.set_tracking_uri(None)


def run_study(case: str, tmp) -> tuple:
    """(config, best trial, metric, tracking URI, registered model URI) of a 3-trial study of `case`."""
    config_file, flags, metric = CASES[case]
    flags = [f.replace("data.target=label", f"data.path={text_csv(tmp / 'shop.csv')} data.target=label") for f in flags]
    uri = f"sqlite:///{tmp}/mlflow.db"
    argv = ["tune", "--config", str(ROOT / "configs" / config_file), "--sampler", "random", "--n-trials", "3",
            "--epochs", "6", "--storage", f"sqlite:///{tmp}/optuna.db", "--tracking-uri", uri,
            "--register-model", "best", "--quiet", *flags]  # fmt: skip
    assert main(argv) == 0
    config = load_config(ROOT / "configs" / config_file, _overrides(flags, tmp))
    name = config.study.name
    best = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp}/optuna.db").best_trial
    version = MlflowClient(uri).get_registered_model("best").latest_versions[0]
    assert version.run_id == best.user_attrs["mlflow_run_id"]
    return config, best, metric, uri, f"models:/best/{version.version}"


def _overrides(flags: list[str], tmp) -> dict:
    overrides = {"study.storage": f"sqlite:///{tmp}/optuna.db", "training.epochs": 6}
    if "--metric" in flags:
        overrides["study.metric"] = flags[flags.index("--metric") + 1]
    if "--data" in flags:
        overrides["data.name"] = flags[flags.index("--data") + 1]
    if "--set" in flags:
        for assignment in flags[flags.index("--set") + 1].split():
            key, value = assignment.split("=", 1)
            overrides[key] = value
    return overrides


def assert_scores_as_reported(predictions, data, value: float, metric: str) -> None:
    truth = np.asarray(data.raw_val_target)
    predictions = np.asarray(predictions)
    if metric == "val_accuracy":
        assert set(predictions.tolist()) <= set(truth.tolist())  # labels as the user has them, not indices
        correct = int((predictions == truth).sum())
        assert correct == round(value * len(truth))  # exactly the study's accuracy
    else:
        rmse = float(np.sqrt(np.mean((predictions - truth.astype(float)) ** 2)))
        assert rmse == pytest.approx(value, rel=1e-5)  # in the target's units


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_model_reloaded_from_sqlite_scores_raw_rows_as_the_study_reported(studies, case):
    config, best, metric, uri, model_uri = studies(case)
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(model_uri)
    data = load_dataset(config.data)
    assert list(model.metadata.get_input_schema().input_names()) == list(data.raw_val.columns)
    assert_scores_as_reported(model.predict(data.raw_val), data, best.value, metric)
    if data.task == "classification":
        probabilities = model.predict(data.raw_val.head(20), params={"output": "probabilities"})
        assert list(probabilities.columns) == [str(c) for c in data.preprocessing.classes]
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
        labels = np.asarray(data.preprocessing.classes)[probabilities.to_numpy().argmax(axis=1)]
        assert labels.tolist() == np.asarray(model.predict(data.raw_val.head(20))).tolist()


def test_text_columns_are_taken_as_text(studies):
    _, _, _, uri, model_uri = studies("csv with text")
    mlflow.set_tracking_uri(uri)
    schema = mlflow.pyfunc.load_model(model_uri).metadata.get_input_schema()
    types = {spec.name: spec.type.name for spec in schema.inputs}
    assert types["color"] == "string" and types["size"] == "double"


def test_mlflow_models_serve_answers_as_pyfunc_does(studies):
    config, best, metric, uri, model_uri = studies("digits")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    import os

    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        server = start_server(command, "Uvicorn running on", timeout=180)
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI")
    try:
        data = load_dataset(config.data)
        payload = {"dataframe_split": data.raw_val.to_dict(orient="split")}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = json.load(response)["predictions"]
        assert_scores_as_reported(served, data, best.value, metric)
    finally:
        stop_server(server)


def test_a_language_model_takes_strings_and_answers_next_characters(workdir):
    """Text in, the next character out: what the network itself ranks first after exactly those characters."""
    argv = ["tune", "--study-name", "lm", "--data", "text", "--metric", "val_bpc", "--n-trials", "1", "--epochs",
            "2", "--set", "data.max_chars=8000 data.seq_len=32 model.kind=transformer training.optimizer=adam",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    study = optuna.load_study(study_name="lm", storage="sqlite:///optuna.db")
    model = mlflow.pyfunc.load_model(f"runs:/{study.best_trial.user_attrs['mlflow_run_id']}/model")
    assert list(model.metadata.get_input_schema().input_names()) == ["text"]
    texts = pd.DataFrame({"text": ["def parse_args(self", "import o", "x"]})
    predicted = model.predict(texts)
    probabilities = model.predict(texts, params={"output": "probabilities"})
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-9)
    assert predicted.tolist() == probabilities.idxmax(axis=1).tolist()

    network, preprocessing = model.unwrap_python_model().network, model.unwrap_python_model().preprocessing
    with torch.no_grad():
        logits = network(torch.from_numpy(preprocessing.ids("import o"))[None])[0, -1]
    assert predicted[1] == preprocessing.vocabulary[int(logits.argmax())]
