"""The user's data, from a factory (`data.factory: my_pkg.data:load`): what it may return, checked, made a `Dataset`.

A factory returns `DataSplits` (or a mapping with the same keys): train and validation splits as `(x, y)` pairs
of tensors or numpy arrays, the task, and optionally its own preprocessing, which travels inside the logged
model. Float inputs train as float32; integer inputs (token ids) stay integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from optflow.data.dataset import CLASSIFICATION, REGRESSION, Dataset
from optflow.errors import UsageError

TASKS = (CLASSIFICATION, REGRESSION)
WHERE = "data.factory"


@dataclass(frozen=True)
class DataSplits:
    """What a data factory returns."""

    train: Any  # (x, y): tensors or numpy arrays with one row per example
    val: Any  # (x, y), the split the study's metric is measured on
    task: str  # classification or regression
    # classes (default: the largest label + 1; for torch Datasets, their `classes` or `targets`) or regression
    # outputs (default 1)
    n_outputs: int | None = None
    preprocessing: Any = None  # raw rows -> inputs and outputs -> predictions (encode/decode), for the logged model
    example: Any = None  # a few raw rows as `preprocessing.encode` takes them: the logged model's input example
    name: str = ""  # shown in runs; default: the factory's reference
    vocab_size: int | None = None  # integer inputs (token ids): the vocabulary; default: the largest id + 1


def load_user_data(reference: str, params: Mapping[str, Any]) -> Dataset:
    """Call the factory and make its splits a `Dataset`; anything amiss is a `UsageError` naming data.factory."""
    from optflow.config.references import resolve
    from optflow.data.preprocessing import ArrayPreprocessing

    factory = resolve(WHERE, reference, ("params",))
    splits = _as_splits(factory(dict(params)))
    if splits.task not in TASKS:
        raise UsageError(f"{WHERE} must return a task of {', '.join(TASKS)}; got {splits.task!r}")
    train_set = val_set = None
    if _map_style(splits.train) or _map_style(splits.val):
        if not (_map_style(splits.train) and _map_style(splits.val)):
            raise UsageError(f"{WHERE} must return train and val both as torch Datasets, or both as (x, y) pairs")
        train_set, val_set = splits.train, splits.val
        splits = DataSplits(**{**splits.__dict__, "train": _sample(train_set), "val": _sample(val_set)})
    x_train, y_train = _pair("train", splits.train, splits.task)
    x_val, y_val = _pair("val", splits.val, splits.task)
    if x_train.shape[1:] != x_val.shape[1:]:
        raise UsageError(
            f"{WHERE} must return train and val inputs of one shape per example; got {tuple(x_train.shape[1:])} "
            f"and {tuple(x_val.shape[1:])}"
        )
    n_outputs = splits.n_outputs or _default_outputs(splits.task, y_train, y_val)
    if train_set is not None and splits.task == CLASSIFICATION and not splits.n_outputs:
        # optflow reads only a sample of a torch Dataset up front, which may miss a class: ask the data set
        n_outputs = max(_declared_classes(train_set), _declared_classes(val_set))
        if not n_outputs:
            raise UsageError(
                f"{WHERE} must return n_outputs (the number of classes) with torch Datasets that carry neither "
                "`classes` nor `targets`"
            )
    if splits.task == CLASSIFICATION:
        top = int(max(y_train.max(), y_val.max()))
        if int(min(y_train.min(), y_val.min())) < 0 or top >= n_outputs:
            raise UsageError(f"{WHERE} must return class labels in [0, {n_outputs}); got labels up to {top}")
    preprocessing, example = splits.preprocessing, splits.example
    if preprocessing is None:
        classes = tuple(range(n_outputs)) if splits.task == CLASSIFICATION else ()
        dtype = "int64" if not x_train.is_floating_point() else "float32"
        preprocessing, example = ArrayPreprocessing(splits.task, classes, dtype), x_val[:5].numpy()
    elif example is None or not all(hasattr(preprocessing, m) for m in ("encode", "decode")):
        raise UsageError(f"{WHERE} must return an example of raw rows with a preprocessing that has encode and decode")
    return Dataset(
        name=splits.name or reference,
        task=splits.task,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        feature_names=(),
        n_outputs=n_outputs,
        source=reference,
        preprocessing=preprocessing,
        raw_val=example,
        vocab_size=_vocabulary(splits, x_train, x_val),
        train_set=train_set,
        val_set=val_set,
    )


SAMPLE_ROWS = 64  # examples of a torch Dataset read up front: the spec, the checks, the logged model's example


def _map_style(value: Any) -> bool:
    """A torch map-style dataset (or anything with `__len__` and `__getitem__` that is not an (x, y) pair)."""
    return isinstance(value, torch.utils.data.Dataset) and hasattr(value, "__len__")


def _sample(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The first examples of a dataset of (x, y) items, stacked: all optflow reads of it outside training."""
    items = [dataset[i] for i in range(min(SAMPLE_ROWS, len(dataset)))]
    if not items or not all(isinstance(item, tuple | list) and len(item) == 2 for item in items):
        raise UsageError(
            f"{WHERE} must return torch Datasets whose items are (x, y) pairs; got {type(dataset).__name__}"
        )
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])


def _declared_classes(dataset: Any) -> int:
    """The number of classes a torch Dataset says it has (0 when it says nothing): torchvision's `classes` (their
    names), else the largest of its `targets` + 1, looked up through `Subset`s to the data set they index."""
    while dataset is not None:
        classes = getattr(dataset, "classes", None)
        if classes is not None and len(classes):
            return len(classes)
        targets = getattr(dataset, "targets", None)
        if targets is not None and len(targets):
            return int(torch.as_tensor(targets).max()) + 1
        dataset = getattr(dataset, "dataset", None)
    return 0


def _vocabulary(splits: DataSplits, x_train: torch.Tensor, x_val: torch.Tensor) -> int:
    """Token inputs' vocabulary size (0 for real-valued inputs)."""
    if x_train.is_floating_point():
        return 0
    largest = int(max(x_train.max(), x_val.max())) + 1
    if splits.vocab_size is not None and splits.vocab_size < largest:
        raise UsageError(f"{WHERE} must return token ids below its vocab_size ({splits.vocab_size}); got {largest - 1}")
    return splits.vocab_size or largest


def _as_splits(value: Any) -> DataSplits:
    if isinstance(value, DataSplits):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in fields(DataSplits)}
        unknown = sorted(set(value) - known)
        if unknown or not {"train", "val", "task"} <= set(value):
            wrong = unknown[0] if unknown else "train, val and task"
            raise UsageError(f"{WHERE} must return DataSplits or a mapping of {', '.join(sorted(known))}; got {wrong}")
        return DataSplits(**value)
    raise UsageError(f"{WHERE} must return optflow.DataSplits (train, val, task); got a {type(value).__name__}")


def _pair(split: str, value: Any, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise UsageError(
            f"{WHERE} must return {split} as a pair (x, y) of tensors or arrays; got {type(value).__name__}"
        )
    x, y = (_tensor(split, v) for v in value)
    if len(x) != len(y) or len(x) == 0:
        raise UsageError(f"{WHERE} must return {split} x and y with one row per example; got {len(x)} and {len(y)}")
    x = x.float() if x.is_floating_point() else x.long()
    if task == CLASSIFICATION:
        if y.is_floating_point() and not torch.equal(y, y.round()):
            raise UsageError(f"{WHERE} must return integer class labels for {split} y in a classification task")
        return x, y.long().reshape(-1)
    y = y.float()
    return x, y.squeeze(-1) if y.ndim == 2 and y.shape[1] == 1 else y


def _tensor(split: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError):
        raise UsageError(
            f"{WHERE} must return {split} as tensors or numpy arrays; got {type(value).__name__}"
        ) from None


def _default_outputs(task: str, y_train: torch.Tensor, y_val: torch.Tensor) -> int:
    if task == CLASSIFICATION:
        return int(max(y_train.max(), y_val.max())) + 1
    return 1 if y_train.ndim == 1 else int(y_train.shape[1])
