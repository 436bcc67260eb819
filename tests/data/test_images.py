"""Image data: digits as 1x8x8 images split as the table is, and a folder of image files, one per class
folder, whose preprocessing turns the raw images into exactly the tensors the network trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from optflow.config import build_config
from optflow.data import load_dataset
from optflow.errors import UsageError


def test_digits_images_are_the_digits_table_reshaped():
    images = load_dataset(build_config({"data": {"name": "digits_images"}}).data)
    table = load_dataset(build_config({"data": {"name": "digits"}}).data)
    assert images.x_train.shape[1:] == (1, 8, 8) and images.spec.input_shape == (1, 8, 8)
    assert torch.equal(images.x_train.reshape(len(images.x_train), -1), table.x_train)
    assert torch.equal(images.y_val, table.y_val)
    encoded = images.preprocessing.encode(images.raw_val)  # the 64 pixel columns, as the logged model takes them
    assert np.array_equal(encoded, images.x_val.numpy())


@pytest.fixture
def folder(tmp_path):
    """Three classes of small RGB images in one folder each, of mixed sizes and formats."""
    digits = load_digits()
    for label, name in enumerate(["zero", "one", "two"]):
        (tmp_path / name).mkdir()
        for i, image in enumerate(digits.images[digits.target == label][:10]):
            pixels = (image * 15).astype(np.uint8)
            size = 8 if i % 2 else 12
            picture = Image.fromarray(pixels).resize((size, size)).convert("RGB")
            picture.save(tmp_path / name / f"{i}.{'png' if i % 3 else 'jpg'}")
    (tmp_path / "zero" / "notes.txt").write_text("not an image")
    return tmp_path


def test_an_image_folder_becomes_standardised_tensors_and_back(folder):
    config = build_config({"data": {"name": "image_folder", "path": str(folder), "image_size": 16}})
    data = load_dataset(config.data)
    assert data.x_train.shape[1:] == (3, 16, 16) and len(data.x_train) + len(data.x_val) == 30
    assert data.n_outputs == 3 and data.preprocessing.classes == ("one", "two", "zero")
    assert sorted(torch.bincount(data.y_val).tolist()) == [2, 2, 2]  # stratified
    assert abs(float(data.x_train.mean())) < 0.05  # standardised on the training images
    assert np.allclose(data.preprocessing.encode(data.raw_val), data.x_val.numpy(), atol=1e-6)
    assert data.raw_val.dtype == np.uint8 and data.raw_val.shape[1:] == (16, 16, 3)  # as Pillow gives them


def test_a_folder_without_class_folders_is_refused(tmp_path):
    (tmp_path / "only").mkdir()
    config = build_config({"data": {"name": "image_folder", "path": str(tmp_path)}})
    with pytest.raises(UsageError, match=r"^data.path must hold at least 2 sub-folders"):
        load_dataset(config.data)
