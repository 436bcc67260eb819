"""Data sets by name -> a split `Dataset` with its `DataSpec` and preprocessing: bundled, synthetic and CSV tables.

The loaders (scikit-learn, the CSV reader) are imported on first use: a logged model unpickles the
preprocessing from this package, and should not need the loaders to be installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from optflow.data.dataset import CLASSIFICATION, LANGUAGE_MODELING, REGRESSION, Dataset, DataSpec
from optflow.data.user import DataSplits

if TYPE_CHECKING:
    from optflow.config import DataConfig


def load_dataset(config: DataConfig) -> Dataset:
    """The configured data set, split and ready for training; bad data is a `UsageError` naming the field."""
    if config.factory:
        from optflow.data.user import load_user_data

        return load_user_data(config.factory, config.params)
    return datasets()[config.name](config)


def datasets() -> dict[str, Callable[[DataConfig], Dataset]]:
    """Every data set by name (each declared, with the config fields it reads, in optflow/config/choices.py)."""
    from optflow.data.images import load_digits_images, load_image_folder
    from optflow.data.tabular import TABLES, load_table
    from optflow.data.text import load_text

    return {
        **{name: load_table for name in TABLES},
        "digits_images": load_digits_images,
        "image_folder": load_image_folder,
        "text": load_text,
    }


def __getattr__(name: str) -> Any:
    if name == "DATASETS":  # the registry the config validates `data.name` against
        return datasets()
    raise AttributeError(f"module 'optflow.data' has no attribute {name!r}")


__all__ = [
    "CLASSIFICATION",
    "LANGUAGE_MODELING",
    "DATASETS",
    "REGRESSION",
    "DataSplits",
    "DataSpec",
    "Dataset",
    "load_dataset",
]
