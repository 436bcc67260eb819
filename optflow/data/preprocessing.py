"""Raw rows in the user's terms <-> the network's numbers: one-hot text columns, standardised features, class
labels, and a regression target in its own units.

Fitted when the data is loaded (standardisation on the training split only), it is used to build the training
tensors and travels inside the logged model, so that a reloaded model takes the raw columns and answers in
labels or target units. It needs only numpy and pandas, so a served model loads it without the rest of optflow.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CLASSIFICATION = "classification"
REGRESSION = "regression"
LANGUAGE_MODELING = "language_modeling"  # next-token prediction: the targets are the inputs shifted by one


def text_columns(frame: pd.DataFrame) -> list[str]:
    """The columns one-hot encoding applies to: text and categories (pandas' `get_dummies` takes the same)."""
    return [
        str(c)
        for c in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]


@dataclass(frozen=True)
class TablePreprocessing:
    """How raw feature columns become the network's inputs, and its outputs the user's predictions."""

    columns: tuple[str, ...]  # raw feature columns, in the order the user's rows have them
    categories: dict[str, tuple[str, ...]]  # text column -> its values, one input each (in one-hot order)
    mean: np.ndarray  # (encoded columns,) of the training split
    std: np.ndarray
    task: str
    classes: tuple[Any, ...] = ()  # class labels, in the order of the network's outputs
    target_mean: float = 0.0  # regression: the network predicts (y - target_mean) / target_scale
    target_scale: float = 1.0
    numeric: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "numeric", tuple(c for c in self.columns if c not in self.categories))

    @property
    def encoded_columns(self) -> list[str]:
        """The network's input columns: numeric ones first, then one per text value, as `get_dummies` names them."""
        return [*self.numeric, *(f"{c}_{v}" for c, values in self.categories.items() for v in values)]

    def frame(self, rows: Any) -> pd.DataFrame:
        """`rows` (a DataFrame, or an array in the order of `columns`) as a frame of the raw columns."""
        if isinstance(rows, pd.DataFrame):
            missing = [c for c in self.columns if c not in rows.columns]
            if missing:
                raise ValueError(f"the rows lack the feature columns {missing}")
            return rows[list(self.columns)]
        return pd.DataFrame(np.asarray(rows, dtype=object if self.categories else None), columns=list(self.columns))

    def unscaled(self, rows: Any) -> np.ndarray:
        """Encoded but not standardised values, float64 (one-hot text; an unseen value encodes as all zeros)."""
        frame = self.frame(rows)
        parts = [frame[list(self.numeric)].to_numpy(dtype=np.float64)]
        unseen: dict[str, list[str]] = {}
        for column, values in self.categories.items():
            text = frame[column].astype(str).to_numpy()
            known = np.asarray(values, dtype=str)
            parts.append((text[:, None] == known[None, :]).astype(np.float64))
            new = sorted(map(str, set(text) - set(known)))
            if new:
                unseen[column] = new
        if unseen:
            # Said as scikit-learn's OneHotEncoder(handle_unknown="warn") says it: the prediction is still made.
            found = "; ".join(f"{column!r}: {values}" for column, values in unseen.items())
            warnings.warn(
                f"Found categories the model never saw in training ({found}); they are encoded as all zeros",
                UserWarning,
                stacklevel=3,
            )
        return np.concatenate(parts, axis=1)

    def encode(self, rows: Any) -> np.ndarray:
        """The network's inputs for raw rows: (rows, encoded columns) float32."""
        return ((self.unscaled(rows) - self.mean) / self.std).astype(np.float32)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """The network's outputs as predictions: class labels, or values in the target's units."""
        outputs = np.asarray(outputs)
        if self.task == CLASSIFICATION:
            return np.asarray(self.classes)[outputs.argmax(axis=1)]
        return outputs.reshape(len(outputs), -1)[:, 0].astype(np.float64) * self.target_scale + self.target_mean

    def probabilities(self, outputs: np.ndarray) -> pd.DataFrame:
        """Class probabilities (softmax of the logits), a column per class label."""
        return class_probabilities(outputs, self.classes)


def class_probabilities(outputs: np.ndarray, classes: Sequence[Any]) -> pd.DataFrame:
    """Softmax of a classifier's logits, a column per class label (what `output: probabilities` answers)."""
    logits = np.asarray(outputs, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return pd.DataFrame(exp / exp.sum(axis=-1, keepdims=True), columns=[str(c) for c in classes])


def fit_table(frame: pd.DataFrame, train_rows: Sequence[int], task: str, target: np.ndarray) -> TablePreprocessing:
    """Fit on `frame` (the raw features): text values from every row (so no column appears later), feature and
    target statistics from the training rows only."""
    categories = {c: tuple(sorted(frame[c].astype(str).unique())) for c in text_columns(frame)}
    draft = TablePreprocessing(tuple(map(str, frame.columns)), categories, np.zeros(0), np.ones(0), task)
    x_train = draft.unscaled(frame.iloc[list(train_rows)])
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # constant columns (digits has some) stay zero instead of dividing by zero
    if task == CLASSIFICATION:
        return TablePreprocessing(draft.columns, categories, mean, std, task, classes=tuple(np.unique(target).tolist()))
    y_train = np.asarray(target, dtype=np.float64)[list(train_rows)]
    scale = float(y_train.std() or 1.0)
    return TablePreprocessing(
        draft.columns, categories, mean, std, task, target_mean=float(y_train.mean()), target_scale=scale
    )


@dataclass(frozen=True)
class ArrayPreprocessing:
    """The logged model's ends for data given as arrays (a data factory without its own preprocessing): the rows
    go in as the network takes them, and the outputs come back as class indices or values."""

    task: str
    classes: tuple[Any, ...] = ()  # class indices 0..n-1 for classification
    dtype: str = "float32"  # of the network's inputs: float32, or int64 for token ids

    def encode(self, rows: Any) -> np.ndarray:
        return np.asarray(rows, dtype=self.dtype)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        outputs = np.asarray(outputs)
        if self.task == CLASSIFICATION:
            return np.asarray(self.classes)[outputs.argmax(axis=-1)]
        return outputs.reshape(len(outputs), -1)[:, 0].astype(np.float64) if outputs.ndim <= 2 else outputs

    def probabilities(self, outputs: np.ndarray) -> pd.DataFrame:
        return class_probabilities(outputs, self.classes)
