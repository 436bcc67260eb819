"""What a data set gives the rest of optflow: a `DataSpec` to build models from, and the split tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from optflow.data.preprocessing import CLASSIFICATION, LANGUAGE_MODELING, REGRESSION

__all__ = ["CLASSIFICATION", "LANGUAGE_MODELING", "REGRESSION", "DataSpec", "Dataset", "looked_in"]


def looked_in(path: Path) -> str:
    """Where a data path that is not there was looked for, for its message: a relative path is read from the
    working directory (not the config file's folder), so the message names both."""
    if path.exists() or path.is_absolute():
        return ""
    return f" (looked in the working directory: {Path.cwd() / path}; relative paths are read from there)"


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data: the shape of one input, the outputs and the task."""

    input_shape: tuple[int, ...]  # of one example: (n_features,), (channels, height, width), (sequence length,)
    n_outputs: int  # classes, 1 for regression, the vocabulary for language modelling
    task: str  # classification, regression or language_modeling
    vocab_size: int = 0  # token inputs: ids in [0, vocab_size); 0 for real-valued inputs


@dataclass(frozen=True)
class Dataset:
    """A split, standardised data set ready for training."""

    name: str
    task: str
    x_train: torch.Tensor  # (n_train, n_features) float32
    y_train: torch.Tensor  # (n_train,) int64 class index, or float32 standardised target
    x_val: torch.Tensor
    y_val: torch.Tensor
    feature_names: tuple[str, ...]
    n_outputs: int  # classes, or 1 for regression
    target_scale: float = 1.0  # regression: std of the raw training target, to report RMSE in its units
    source: str = ""  # where the rows came from: a CSV path or the scikit-learn call that made them
    preprocessing: Any = None  # raw rows <-> the network's numbers (`TablePreprocessing`), for the logged model
    raw_val: Any = None  # the validation rows as the user has them (a DataFrame), in the order of x_val
    raw_val_target: Any = None  # their targets, as the user has them (labels, target units)
    vocab_size: int = 0  # token inputs: ids in [0, vocab_size)
    train_set: Any = None  # map-style torch datasets for data that does not fit in memory (x_train/x_val then
    val_set: Any = None  # hold a few stacked examples, for the spec, checks and the logged model's example)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def spec(self) -> DataSpec:
        return DataSpec(tuple(self.x_train.shape[1:]), self.n_outputs, self.task, self.vocab_size)

    def to(self, device: torch.device) -> Dataset:
        """The same data on another device (one copy, before training)."""
        move = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_val", "y_val")}
        return Dataset(**{**self.__dict__, **move})
