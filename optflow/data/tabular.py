"""Tables -> standardised train/validation tensors: scikit-learn's bundled sets, synthetic sets, CSV files.

Everything is held as whole tensors so the training loop does no per-sample Python work. The preprocessing
(one-hot text, standardisation fitted on the training rows only, so validation numbers are honest) is kept
with the data, for the logged model to take raw rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

from optflow.config import DataConfig
from optflow.data.dataset import Dataset, looked_in
from optflow.data.preprocessing import CLASSIFICATION, REGRESSION, fit_table, text_columns
from optflow.errors import UsageError

# A CSV target with at most this many distinct integer values is taken as class labels under task: auto.
MAX_AUTO_CLASSES = 20


@dataclass(frozen=True)
class RawData:
    """Features (as the user has them: numbers and text) and target, before splitting."""

    frame: pd.DataFrame
    y: np.ndarray
    task: str
    source: str = ""


def _numbers(x: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(x), columns=list(names))


def _bundled(loader: Callable, task: str) -> Callable[[DataConfig], RawData]:
    def load(config: DataConfig) -> RawData:
        bunch = loader()
        names = [str(n) for n in getattr(bunch, "feature_names", range(bunch.data.shape[1]))]
        source = f"sklearn.datasets.{loader.__name__}()"
        return RawData(_numbers(bunch.data, names), np.asarray(bunch.target), task, source)

    return load


def _synthetic_classification(config: DataConfig) -> RawData:
    informative = max(2, min(config.n_features, config.n_features // 2 + 1))
    if config.n_classes * 2 > 2**informative:
        raise UsageError(
            f"data.n_classes must be at most {2**informative // 2} for n_features={config.n_features}; "
            f"got {config.n_classes}"
        )
    x, y = sk_datasets.make_classification(
        n_samples=config.n_samples,
        n_features=config.n_features,
        n_informative=min(informative, config.n_features),
        n_redundant=0,
        n_classes=config.n_classes,
        flip_y=config.noise,
        random_state=config.seed,
    )
    source = (
        f"sklearn.datasets.make_classification(n_samples={config.n_samples}, n_features={config.n_features}, "
        f"n_classes={config.n_classes}, flip_y={config.noise}, random_state={config.seed})"
    )
    return RawData(_numbers(x, [f"x{i}" for i in range(config.n_features)]), y, CLASSIFICATION, source)


def _synthetic_regression(config: DataConfig) -> RawData:
    x, y = sk_datasets.make_regression(
        n_samples=config.n_samples,
        n_features=config.n_features,
        n_informative=max(1, config.n_features // 2),
        noise=config.noise,
        random_state=config.seed,
    )
    source = (
        f"sklearn.datasets.make_regression(n_samples={config.n_samples}, n_features={config.n_features}, "
        f"noise={config.noise}, random_state={config.seed})"
    )
    return RawData(_numbers(x, [f"x{i}" for i in range(config.n_features)]), y, REGRESSION, source)


def _csv(config: DataConfig) -> RawData:
    path = Path(config.path)
    if not path.is_file():
        raise UsageError(f"data.path must be an existing CSV file; got {config.path!r}{looked_in(path)}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UsageError(f"data.path {config.path!r} is not a readable CSV: {error}") from None
    if frame.empty and len(frame.columns):
        raise UsageError(f"data.path must be a CSV with rows of data; got {config.path!r} (a header, no rows)")
    if config.target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise UsageError(f"data.target must be a column of {config.path}; got {config.target!r} (columns: {columns})")
    missing = frame.isna().sum()
    if missing.any():
        column = missing[missing > 0].index[0]
        raise UsageError(
            f"data.path {config.path} has {int(missing[column])} missing (NaN) values in column {column!r}; "
            "clean or impute them first"
        )
    target = frame.pop(config.target)
    if frame.shape[1] == 0:
        raise UsageError(f"data.path {config.path} has no feature columns besides the target {config.target!r}")
    task = config.task if config.task != "auto" else _infer_task(target)
    if task == REGRESSION and not pd.api.types.is_numeric_dtype(target):
        raise UsageError(
            f"data.task must be classification for the text target column {config.target!r} of {config.path}; "
            f"got 'regression'"
        )
    frame.columns = [str(c) for c in frame.columns]
    return RawData(frame, target.to_numpy(), task, str(path.resolve()))


def _infer_task(target: pd.Series) -> str:
    """Text, booleans and small sets of integers are class labels; anything else is a regression target."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return CLASSIFICATION
    values = target.to_numpy()
    if np.all(np.equal(np.mod(values, 1), 0)) and len(np.unique(values)) <= MAX_AUTO_CLASSES:
        return CLASSIFICATION
    return REGRESSION


TABLES: dict[str, Callable[[DataConfig], RawData]] = {
    "digits": _bundled(sk_datasets.load_digits, CLASSIFICATION),
    "iris": _bundled(sk_datasets.load_iris, CLASSIFICATION),
    "wine": _bundled(sk_datasets.load_wine, CLASSIFICATION),
    "breast_cancer": _bundled(sk_datasets.load_breast_cancer, CLASSIFICATION),
    "diabetes": _bundled(sk_datasets.load_diabetes, REGRESSION),
    "classification": _synthetic_classification,
    "regression": _synthetic_regression,
    "csv": _csv,
}


def load_table(config: DataConfig) -> Dataset:
    """Load, check, split (stratified for classes) and standardise the configured table."""
    raw = TABLES[config.name](config)
    task = config.task if config.task != "auto" else raw.task
    frame, target = raw.frame, raw.y
    numeric = [c for c in frame.columns if c not in text_columns(frame)]
    numbers = frame[numeric].to_numpy(dtype=np.float64)
    if not np.isfinite(numbers).all():
        column = numeric[int(np.where(~np.isfinite(numbers).all(axis=0))[0][0])]
        raise UsageError(f"data {config.name!r} has NaN or infinite values in feature {column!r}; clean them first")

    if task == CLASSIFICATION:
        classes, y = np.unique(target, return_inverse=True)
        if len(classes) < 2:
            raise UsageError(f"data {config.name!r} target must have at least 2 classes; got {len(classes)}")
        stratify = y if np.bincount(y).min() >= 2 else None
    else:
        y = np.asarray(target, dtype=np.float64)
        if not np.isfinite(y).all():
            raise UsageError(f"data {config.name!r} has NaN or infinite target values; clean them first")
        stratify = None
    try:
        train_rows, val_rows = train_test_split(
            np.arange(len(y)), test_size=config.val_fraction, random_state=config.seed, stratify=stratify
        )
    except ValueError as error:  # too few rows for the split, or for a class in each part
        raise UsageError(
            f"data.val_fraction must leave rows on both sides of the split of {config.name!r} ({len(y)} rows); "
            f"got {config.val_fraction} ({error})"
        ) from None

    preprocessing = fit_table(frame, train_rows, task, target)
    x = preprocessing.encode(frame)
    if task == CLASSIFICATION:
        y_train, y_val = (
            torch.from_numpy(y[train_rows].astype(np.int64)),
            torch.from_numpy(y[val_rows].astype(np.int64)),
        )
        n_outputs = len(classes)
    else:
        scaled = (y - preprocessing.target_mean) / preprocessing.target_scale
        y_train, y_val = (torch.from_numpy(scaled[rows].astype(np.float32)) for rows in (train_rows, val_rows))
        n_outputs = 1
    return Dataset(
        name=config.name,
        task=task,
        x_train=torch.from_numpy(x[train_rows]),
        y_train=y_train,
        x_val=torch.from_numpy(x[val_rows]),
        y_val=y_val,
        feature_names=tuple(preprocessing.encoded_columns),
        n_outputs=n_outputs,
        target_scale=preprocessing.target_scale,
        source=raw.source,
        preprocessing=preprocessing,
        raw_val=frame.iloc[val_rows].reset_index(drop=True),
        raw_val_target=np.asarray(target)[val_rows],
    )
