"""The model a user takes away: the trained network with its preprocessing, as one MLflow pyfunc model.

It takes the raw feature columns (the signature names them, text columns as text) and answers in the user's
terms: class labels, or regression values in the target's units; `params={"output": "probabilities"}` gives
a probability per class. `mlflow.pyfunc.load_model` and `mlflow models serve` give the same answers as the
study reported. optflow's own code travels with the model (`code_paths`), so it loads where optflow is not
installed. The network is serialised in the trainer's process and logged by the tracking process.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.entities import LoggedModelStatus

from optflow.contract import MODEL_NAME

INPUT_EXAMPLE_ROWS = 5  # validation rows logged with the model as its input example and signature source
PROBABILITIES = "probabilities"  # `params={"output": ...}`: the other output a classifier gives


# MLflow inspects `predict` when a PythonModel class is made (its own ones too, when mlflow.pyfunc is imported) and
# advises type hints; the model has a signature instead. MLflow resets the warning filters as it goes, so the
# advice is recorded and dropped rather than filtered.
with warnings.catch_warnings(record=True):
    import mlflow.pyfunc

    class OptflowModel(mlflow.pyfunc.PythonModel):
        """A trained network and its preprocessing: raw rows in, predictions in the user's terms out."""

        def __init__(self, network: torch.nn.Module, preprocessing: Any) -> None:
            self.network = network.eval()
            self.preprocessing = preprocessing

        def predict(self, context, model_input, params=None):  # noqa: ANN001 - MLflow reads type hints as a schema
            """Class labels or target values for `model_input` (a DataFrame of the raw feature columns)."""
            wants_probabilities = (params or {}).get("output") == PROBABILITIES
            if hasattr(self.preprocessing, "predict"):  # text: strings of any length, one pass each
                return self.preprocessing.predict(self.network, model_input, wants_probabilities)
            with torch.no_grad():
                outputs = self.network(torch.as_tensor(self.preprocessing.encode(model_input))).numpy()
            if wants_probabilities and self.preprocessing.classes:
                return self.preprocessing.probabilities(outputs)
            return self.preprocessing.decode(outputs)


def serialize_model(model: torch.nn.Module) -> bytes:
    """The module as bytes (moved to the CPU), so it can travel to the tracking process. cloudpickle carries a
    class defined in `__main__` or a notebook by value: the tracking process could not import it."""
    import cloudpickle

    buffer = io.BytesIO()
    torch.save(model.cpu(), buffer, pickle_module=cloudpickle)
    return buffer.getvalue()


def user_modules(network: torch.nn.Module) -> set[str]:
    """The top-level packages of the user's code inside `network` (not torch's, not optflow's)."""
    tops = {type(module).__module__.split(".")[0] for module in network.modules()}
    return {top for top in tops if top not in ("torch", "optflow", "__main__", "builtins")}


@contextmanager
def _users_code_by_value(network: torch.nn.Module) -> Iterator[None]:
    """While MLflow pickles the model, the user's classes travel inside it (cloudpickle by value), so the model
    loads where the user's source is not on the path."""
    import importlib

    import cloudpickle

    registered = []
    for name in user_modules(network):
        try:
            cloudpickle.register_pickle_by_value(importlib.import_module(name))
            registered.append(name)
        except (ImportError, ValueError):  # not importable here, or already registered: pickled as it is
            pass
    try:
        yield
    finally:
        for name in registered:
            cloudpickle.unregister_pickle_by_value(importlib.import_module(name))


def _requirements() -> list[str]:
    # Explicit requirements: inferring them costs seconds per call (docs/architecture.md, pitfalls); MLflow adds itself.
    return [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}"]


def log_model_file(
    tracking_uri: str,
    run_id: str,
    path: str,
    preprocessing: Any,
    input_example: pd.DataFrame,
    registered_name: str = "",
) -> str:
    """`log_model` of a model kept in a file (`kept_models.py`): read here, in the tracking process, so the
    worker never holds a study's kept models in memory at once, and a file that cannot be read is a tracking
    failure like any other (warned about and counted)."""
    model_bytes = Path(path).read_bytes()
    return log_model(tracking_uri, run_id, model_bytes, preprocessing, input_example, registered_name)


def log_model(
    tracking_uri: str,
    run_id: str,
    model_bytes: bytes,
    preprocessing: Any,
    input_example: pd.DataFrame,
    registered_name: str = "",
) -> str:
    """Log the network with its preprocessing into an existing run, leaving the run's status and times as they
    were (a model logged at the end of a study keeps its trial's duration); registered in the Model Registry
    under `registered_name` when one is given. Returns the model's URI."""
    from mlflow.models import infer_signature

    import optflow

    model = OptflowModel(torch.load(io.BytesIO(model_bytes), weights_only=False), preprocessing)
    output = model.predict(None, input_example)
    mlflow.set_tracking_uri(tracking_uri)
    before = mlflow.MlflowClient(tracking_uri).get_run(run_id).info
    # MLflow's advice ("add type hints", "python_model is pickled") is for other models than this one.
    with (
        warnings.catch_warnings(record=True),
        _quiet("mlflow.pyfunc"),
        _users_code_by_value(model.network),
        mlflow.start_run(run_id=run_id),
    ):
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=model,
            signature=infer_signature(input_example, output, params={"output": "predictions"}),
            input_example=input_example,
            pip_requirements=_requirements(),
            code_paths=[str(Path(optflow.__file__).parent)],
            registered_model_name=registered_name or None,
        )
    # Logging needs the run active, and ending it moved its end time and status: put them back.
    client = mlflow.MlflowClient(tracking_uri)
    if before.status == "RUNNING":
        client.update_run(run_id, status="RUNNING")
    else:
        client.set_terminated(run_id, before.status, end_time=before.end_time)
    return info.model_uri


def find_logged_model(tracking_uri: str, run_id: str, register_as: str = "") -> str | None:
    """The URI of the model logged in run `run_id` (by an earlier session or another worker), None if it has
    none; with `register_as`, also registered under that name unless a version of it comes from this run."""
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    models = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'")
    models = [m for m in models if m.status == LoggedModelStatus.READY]  # not an attempt that failed or runs now
    if not models:
        return None
    uri = f"models:/{models[0].model_id}"
    registered = {version.name for version in client.search_model_versions(f"run_id = '{run_id}'")}
    if register_as and register_as not in registered:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.register_model(uri, register_as)  # says so on stderr, as when a model is logged and registered
    return uri


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
