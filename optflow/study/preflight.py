"""Checks that need the loaded data or this machine, run before anything is created: the config layer cannot
know a CSV's task or whether a GPU is present."""

from __future__ import annotations

from optflow.config import Config
from optflow.config.consistency import check_task
from optflow.config.names import search_entry
from optflow.data import CLASSIFICATION, LANGUAGE_MODELING, Dataset
from optflow.errors import UsageError
from optflow.models import build_model
from optflow.training import check_device, check_precision


def preflight(config: Config, data: Dataset) -> None:
    """A `UsageError` naming the field when the metric does not fit the data's task, a device is missing, or a
    model factory does not give a network that takes the data."""
    check_task(config, data.task, data.name)
    check_model(config, data)
    check_criteria(config, data)
    training = config.training
    check_device(training.device)
    check_precision(training.precision, training.device)
    if device := search_entry(config, "training.device"):
        for choice in device.choices:
            check_device(choice, f"search.{device.name}.choices")
    if precision := search_entry(config, "training.precision"):
        for choice in precision.choices:
            check_precision(choice, training.device, f"search.{precision.name}.choices")


def check_model(config: Config, data: Dataset) -> None:
    """The network, built with the config's own params (and each searched model kind), answers two validation
    rows with one output row each: a factory's wrong return type or shape, or a CNN on tables, is the user's
    error, said before any trial runs."""
    # The task's own loss takes one output shape; a user's loss or training loop may take another.
    fixed_shape = not (config.training.loss or config.objective.function)
    if config.model.factory:
        _answers(build_model(config, data.spec), data, fixed_shape)
        return
    kinds = search_entry(config, "model.kind")
    for kind in kinds.choices if kinds else (config.model.kind,):
        _answers(build_model(config.with_params({"model.kind": kind}), data.spec), data, fixed_shape)


def _answers(model, data: Dataset, fixed_shape: bool) -> None:
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
    tails = _output_tails(data)
    if fixed_shape and tuple(output.shape[1:]) not in tails:
        shapes = " or ".join(f"(rows, {', '.join(map(str, tail))})" if tail else "(rows,)" for tail in tails)
        raise UsageError(
            f"model.factory must build a network whose output is {shapes} for {_outputs_named(data)}; "
            f"got {tuple(output.shape)}"
        )


def _output_tails(data: Dataset) -> list[tuple[int, ...]]:
    """The shapes of one row's output that the task's loss takes: a score per class, one number for regression
    (the loss squeezes a last axis of 1), a score per vocabulary entry at each position of the target."""
    if data.task == CLASSIFICATION:
        return [(data.n_outputs,)]
    if data.task == LANGUAGE_MODELING:
        return [(*data.y_val.shape[1:], data.n_outputs)]
    return [(1,), ()]


def _outputs_named(data: Dataset) -> str:
    if data.task == CLASSIFICATION:
        return f"{data.n_outputs} classes"
    if data.task == LANGUAGE_MODELING:
        return f"a vocabulary of {data.n_outputs} at each position"
    return "regression"


def check_criteria(config: Config, data: Dataset) -> None:
    """The user's loss gives a scalar tensor that gradients flow through, and each extra metric a number, on
    two validation rows of the configured model: a wrong return type is said before any trial runs."""
    if not (config.training.loss or config.study.metrics):
        return
    import torch

    from optflow.training.criteria import loss_function, metric_functions

    model = build_model(config, data.spec).train()
    x, y = data.x_val[:2], data.y_val[:2]
    if config.training.loss:
        loss = _called("training.loss", loss_function(data.task, config.training.loss), model(x), y)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
            got = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
            got += "" if not isinstance(loss, torch.Tensor) or loss.requires_grad else " without gradient"
            raise UsageError(f"training.loss must return a scalar tensor of the outputs (to backpropagate); got {got}")
    with torch.no_grad():
        output = model.eval()(x)
    for name, function in metric_functions(config.study.extra_metrics).items():
        value = _called("study.metrics", function, output, y)
        try:
            float(value)
        except (TypeError, ValueError, RuntimeError):
            got = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise UsageError(f"study.metrics must return a number ({name}); got {got}") from None


def _called(where: str, function, output, target):
    try:
        return function(output, target)
    except Exception as error:  # noqa: BLE001 - whatever the user's function raises, said in one line
        raise UsageError(
            f"{where} must accept the model's output {tuple(output.shape)} and the target {tuple(target.shape)}; "
            f"got {type(error).__name__}: {error}"
        ) from None
