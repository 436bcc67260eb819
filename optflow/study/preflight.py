"""Checks that need the loaded data or this machine, run before anything is created: the config layer cannot
know a CSV's task or whether a GPU is present."""

from __future__ import annotations

from optflow.config import Config
from optflow.config.validation import check_task
from optflow.data import Dataset
from optflow.errors import UsageError
from optflow.models import build_model
from optflow.training import check_device


def preflight(config: Config, data: Dataset) -> None:
    """A `UsageError` naming the field when the metric does not fit the data's task, a device is missing, or a
    model factory does not give a network that takes the data."""
    check_task(config, data.task, data.name)
    check_model(config, data)
    check_device(config.training.device)
    for param in config.search:
        if param.name == "device":
            for choice in param.choices:
                check_device(choice, "search.device.choices")


def check_model(config: Config, data: Dataset) -> None:
    """The network, built with the config's own params (and each searched model kind), answers two validation
    rows with one output row each: a factory's wrong return type or shape, or a CNN on tables, is the user's
    error, said before any trial runs."""
    if config.model.factory:
        _answers(build_model(config, data.spec), data)
        return
    for kind in next((p.choices for p in config.search if p.name == "kind"), (config.model.kind,)):
        _answers(build_model(config.with_params({"kind": kind}), data.spec), data)


def _answers(model, data: Dataset) -> None:
    import torch

    try:
        with torch.no_grad():
            output = model.eval()(data.x_val[:2])
    except Exception as error:  # noqa: BLE001 - whatever the user's network raises, said in one line
        raise UsageError(
            f"model.factory must build a network that takes the data's inputs {tuple(data.spec.input_shape)}; "
            f"got {type(error).__name__}: {error}"
        ) from None
    if not isinstance(output, torch.Tensor) or output.shape[0] != min(2, len(data.x_val)):
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise UsageError(f"model.factory must build a network that returns one output row per input row; got {got}")
