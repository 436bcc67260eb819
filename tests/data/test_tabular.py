"""Data sets: bundled, synthetic and CSV; stratified split; standardisation fitted on train only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from optflow.config import DataConfig
from optflow.data import CLASSIFICATION, DATASETS, REGRESSION, load_dataset
from optflow.errors import UsageError


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer", "diabetes"])
def test_bundled_sets_load_as_tensors(name):
    data = load_dataset(DataConfig(name=name))
    assert data.x_train.dtype == torch.float32
    assert data.x_train.shape[1] == data.x_val.shape[1] == len(data.feature_names)
    assert data.task == (REGRESSION if name == "diabetes" else CLASSIFICATION)


def test_split_is_stratified(digits):
    train_share = np.bincount(digits.y_train.numpy()) / len(digits.y_train)
    val_share = np.bincount(digits.y_val.numpy()) / len(digits.y_val)
    assert np.abs(train_share - val_share).max() < 0.01
    assert len(digits.y_val) == pytest.approx(0.2 * 1797, abs=1)


def test_standardisation_is_fitted_on_train_only(diabetes):
    x = diabetes.x_train.numpy()
    assert np.abs(x.mean(axis=0)).max() < 1e-5
    assert np.abs(x.std(axis=0) - 1).max() < 1e-4
    assert np.abs(diabetes.x_val.numpy().mean(axis=0)).max() > 1e-3  # val uses train's statistics
    assert float(diabetes.y_train.mean()) == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize("n_samples,n_features", [(200, 5), (5000, 40)])
def test_synthetic_sets_have_the_asked_size(n_samples, n_features):
    data = load_dataset(DataConfig(name="classification", n_samples=n_samples, n_features=n_features, n_classes=4))
    assert data.x_train.shape[0] + data.x_val.shape[0] == n_samples
    assert data.n_features == n_features and data.n_outputs == 4
    regression = load_dataset(DataConfig(name="regression", n_samples=n_samples, n_features=n_features))
    assert regression.task == REGRESSION and regression.n_features == n_features


def write_csv(path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_csv_with_text_features_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=60), "color": rng.choice(["red", "blue"], 60), "y": rng.choice(["yes", "no"], 60)}
    )
    data = load_dataset(DataConfig(name="csv", path=write_csv(tmp_path / "d.csv", frame), target="y"))
    assert data.task == CLASSIFICATION and data.n_outputs == 2
    assert set(data.feature_names) == {"a", "color_blue", "color_red"}


def test_csv_regression_target_is_inferred(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50), "price": rng.normal(size=50) * 100})
    data = load_dataset(DataConfig(name="csv", path=write_csv(tmp_path / "d.csv", frame), target="price"))
    assert data.task == REGRESSION and data.n_outputs == 1


def test_missing_csv_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="data.path must be an existing CSV file; got '.*nope.csv'"):
        load_dataset(DataConfig(name="csv", path=str(tmp_path / "nope.csv"), target="y"))


def test_csv_without_target_column_names_the_columns(tmp_path):
    path = write_csv(tmp_path / "d.csv", pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    with pytest.raises(UsageError, match=r"data.target must be a column of .*; got 'y' \(columns: a, b\)"):
        load_dataset(DataConfig(name="csv", path=path, target="y"))


def test_nan_in_csv_is_a_usage_error(tmp_path):
    path = write_csv(tmp_path / "d.csv", pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "y": [0, 1, 0, 1]}))
    with pytest.raises(UsageError, match="1 missing \\(NaN\\) values in column 'a'"):
        load_dataset(DataConfig(name="csv", path=path, target="y"))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_registered_set_loads_with_a_spec_that_fits_its_tensors(name, tmp_path):
    config = DataConfig(name=name)
    if name == "csv":
        frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3, "y": np.arange(40) % 2})
        config = DataConfig(name="csv", path=write_csv(tmp_path / "d.csv", frame), target="y")
    if name == "image_folder":
        from PIL import Image

        for label in ("a", "b"):
            (tmp_path / label).mkdir()
            for i in range(5):
                Image.new("RGB", (6, 6), (40 * i, 100 if label == "a" else 200, 0)).save(tmp_path / label / f"{i}.png")
        config = DataConfig(name=name, path=str(tmp_path), image_size=6)
    data = load_dataset(config)
    spec = data.spec
    assert spec.input_shape == tuple(data.x_train.shape[1:]) == tuple(data.x_val.shape[1:])
    assert spec.task == data.task and len(data.x_train) == len(data.y_train) > len(data.y_val) > 0
    if spec.task == CLASSIFICATION:
        assert int(data.y_train.max()) == spec.n_outputs - 1
    elif spec.task == "language_modeling":  # a distribution over the next character
        assert spec.n_outputs == spec.vocab_size > int(data.y_train.max())
    else:
        assert spec.n_outputs == 1
