"""Images -> (channels, height, width) tensors: scikit-learn's digits as 1x8x8 images, and a folder of image
files, one sub-folder per class, read with Pillow and resized.

Each keeps a preprocessing that travels inside the logged model, so the model takes images as the user has
them (digits: the 64 pixel columns; a folder: uint8 arrays of shape (n, height, width, 3)).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optflow.config import DataConfig
from optflow.data.dataset import Dataset, looked_in
from optflow.data.preprocessing import CLASSIFICATION, class_probabilities
from optflow.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImagePreprocessing:
    """Raw images -> the network's (channels, height, width) inputs, standardised as in training."""

    shape: tuple[int, int, int]  # (channels, height, width) of one input
    mean: np.ndarray  # per channel, of the training images
    std: np.ndarray
    classes: tuple[Any, ...]
    channels_last: bool = True  # raw images come as (n, height, width, channels), as Pillow and numpy give them
    table: Any = None  # digits: the pixel columns' own preprocessing, which already standardises
    task: str = CLASSIFICATION

    def encode(self, rows: Any) -> np.ndarray:
        if self.table is not None:
            return self.table.encode(rows).reshape(-1, *self.shape)
        images = np.asarray(rows, dtype=np.float32)
        if self.channels_last:
            images = images.reshape(-1, self.shape[1], self.shape[2], self.shape[0]).transpose(0, 3, 1, 2)
        images = images / 255.0
        return ((images - self.mean[None, :, None, None]) / self.std[None, :, None, None]).astype(np.float32)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes)[np.asarray(outputs).argmax(axis=1)]

    def probabilities(self, outputs: np.ndarray) -> Any:
        return class_probabilities(outputs, self.classes)


def load_digits_images(config: DataConfig) -> Dataset:
    """Digits as 1x8x8 images: the table's split and standardisation, reshaped; the logged model takes the 64
    pixel columns as the table version does."""
    from optflow.data.tabular import load_table

    table = load_table(replace(config, name="digits"))
    shape = (1, 8, 8)
    preprocessing = ImagePreprocessing(
        shape, np.zeros(1), np.ones(1), table.preprocessing.classes, table=table.preprocessing
    )
    return replace(
        table,
        name=config.name,
        x_train=table.x_train.reshape(-1, *shape),
        x_val=table.x_val.reshape(-1, *shape),
        preprocessing=preprocessing,
    )


def load_image_folder(config: DataConfig) -> Dataset:
    """`data.path/<class>/<image>`: every image as RGB, resized to `image_size` square, split stratified."""
    from PIL import Image
    from sklearn.model_selection import train_test_split

    root = Path(config.path)
    if not root.is_dir():
        raise UsageError(
            f"data.path must be a folder with one sub-folder of images per class; got {config.path!r}{looked_in(root)}"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [
        (f, label)
        for label, name in enumerate(classes)
        for f in sorted((root / name).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if len(classes) < 2 or not files:
        raise UsageError(
            f"data.path must hold at least 2 sub-folders (one per class) of image files; got {len(classes)} "
            f"folder(s) with {len(files)} image(s) in {config.path!r}"
        )
    size = config.image_size
    images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f, _ in files])
    y = np.asarray([label for _, label in files])
    stratify = y if np.bincount(y).min() >= 2 else None
    try:
        train_rows, val_rows = train_test_split(
            np.arange(len(y)), test_size=config.val_fraction, random_state=config.seed, stratify=stratify
        )
    except ValueError as error:
        raise UsageError(
            f"data.val_fraction must leave images on both sides of the split ({len(y)} images); got "
            f"{config.val_fraction} ({error})"
        ) from None
    scaled = images[train_rows].astype(np.float32) / 255.0
    mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
    std[std == 0] = 1.0
    preprocessing = ImagePreprocessing((3, size, size), mean, std, tuple(classes))
    x = torch.from_numpy(preprocessing.encode(images))
    labels = torch.from_numpy(y.astype(np.int64))
    return Dataset(
        name=config.name,
        task=CLASSIFICATION,
        x_train=x[train_rows],
        y_train=labels[train_rows],
        x_val=x[val_rows],
        y_val=labels[val_rows],
        feature_names=(),
        n_outputs=len(classes),
        source=str(root.resolve()),
        preprocessing=preprocessing,
        raw_val=images[val_rows],
        raw_val_target=np.asarray(classes)[y[val_rows]],
    )
