"""The trained model as an MLflow model: serialised in the trainer's process, logged by the tracking process."""

from __future__ import annotations

import io
import logging
from typing import Any

import torch

from optflow.contract import MODEL_NAME

INPUT_EXAMPLE_ROWS = 5  # validation rows logged with the model as its input example and signature source


def serialize_model(model: torch.nn.Module) -> bytes:
    """The module as bytes (moved to the CPU), so it can travel to the tracking process."""
    buffer = io.BytesIO()
    torch.save(model.cpu(), buffer)
    return buffer.getvalue()


def log_model(
    tracking_uri: str, run_id: str, model_bytes: bytes, input_example: Any, registered_name: str = ""
) -> None:
    """`mlflow.pytorch.log_model` into an existing run, with a signature inferred from the input example;
    registered in the Model Registry under `registered_name` when one is given."""
    import mlflow
    import mlflow.pytorch
    from mlflow.models import infer_signature

    module = torch.load(io.BytesIO(model_bytes), weights_only=False)
    module.eval()
    with torch.no_grad():
        output = module(torch.as_tensor(input_example)).numpy()
    mlflow.set_tracking_uri(tracking_uri)
    # Pickle is what loads back through pyfunc for any nn.Module; MLflow warns about it on every call.
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    with mlflow.start_run(run_id=run_id):
        mlflow.pytorch.log_model(
            module,
            name=MODEL_NAME,
            signature=infer_signature(input_example, output),
            input_example=input_example,
            # Explicit requirements: inferring them costs seconds per call (DESIGN.md pitfalls).
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "numpy"],
            serialization_format="pickle",
            registered_model_name=registered_name or None,
        )
