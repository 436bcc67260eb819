"""Data sets by name -> a split `Dataset` with its `DataSpec`: bundled, synthetic and CSV tables."""

from __future__ import annotations

from collections.abc import Callable

from optflow.config import DataConfig
from optflow.data.dataset import CLASSIFICATION, REGRESSION, Dataset, DataSpec
from optflow.data.tabular import TABLES, load_table

DATASETS: dict[str, Callable[[DataConfig], Dataset]] = {name: load_table for name in TABLES}


def load_dataset(config: DataConfig) -> Dataset:
    """The configured data set, split and ready for training; bad data is a `UsageError` naming the field."""
    return DATASETS[config.name](config)


__all__ = ["CLASSIFICATION", "DATASETS", "REGRESSION", "DataSpec", "Dataset", "load_dataset"]
