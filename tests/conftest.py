"""Shared fixtures: small data sets and configs so the suite stays fast."""

from __future__ import annotations

import pytest

from optflow.config import DataConfig, TrainingConfig
from optflow.data import Dataset, load_dataset


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset(DataConfig(name="digits"))


@pytest.fixture(scope="session")
def small_classification() -> Dataset:
    return load_dataset(DataConfig(name="classification", n_samples=300, n_features=8, n_classes=3))


@pytest.fixture(scope="session")
def diabetes() -> Dataset:
    return load_dataset(DataConfig(name="diabetes"))


@pytest.fixture
def quick_training() -> TrainingConfig:
    return TrainingConfig(epochs=5, batch_size=32, lr=0.05)
