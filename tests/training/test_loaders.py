"""Data that does not fit in memory: a data factory's torch datasets train through DataLoaders and are evaluated
in batches, giving the numbers a whole-tensor evaluation gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from model_outputs import predict
from torch.utils.data import Dataset as TorchDataset

from optflow.config import build_config
from optflow.data import Dataset
from optflow.models import build_model
from optflow.training import fit


class MemoryMapped(TorchDataset):
    """Rows of a memory-mapped file, read one at a time, as a data set larger than memory would be."""

    def __init__(self, path, rows: int, columns: int) -> None:
        self.x = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, columns))
        self.y = (self.x[:, 0] + self.x[:, 1] > 0).astype(np.int64)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        return torch.from_numpy(np.array(self.x[index])), int(self.y[index])


@pytest.fixture
def mapped(tmp_path):
    rows, columns = 600, 8
    data = np.random.default_rng(0).normal(size=(rows, columns)).astype(np.float32)
    data.tofile(tmp_path / "x.f32")
    train = MemoryMapped(tmp_path / "x.f32", rows, columns)
    val = torch.utils.data.Subset(train, range(500, 600))
    train = torch.utils.data.Subset(train, range(500))
    sample = torch.stack([train[i][0] for i in range(4)]), torch.tensor([train[i][1] for i in range(4)])
    return Dataset("mapped", "classification", *sample, *sample, (), 2, train_set=train, val_set=val), data


@pytest.mark.parametrize("workers", [0, 2])
def test_datasets_train_through_loaders_and_evaluate_in_batches_exactly(mapped, workers):
    data, raw = mapped
    config = build_config(
        {"training": {"epochs": 3, "optimizer": "adam", "lr": 0.01, "batch_size": 32, "num_workers": workers}}
    )
    model = build_model(config, data.spec)
    records = list(fit(model, data, config.training))
    assert len(records) == 3 and records[-1].steps == math.ceil(500 / 32)
    assert records[-1].val_accuracy > 0.9  # the rule x0 + x1 > 0 is learnt

    x_val, y_val = torch.from_numpy(raw[500:]), torch.from_numpy((raw[500:, 0] + raw[500:, 1] > 0).astype(np.int64))
    best_epoch = min(records, key=lambda r: r.val_loss)  # fit leaves the best epoch's weights in the model
    output = predict(model, x_val)  # the whole validation set at once
    assert torch.nn.functional.cross_entropy(output, y_val).item() == pytest.approx(best_epoch.val_loss, rel=1e-5)
    assert (output.argmax(1) == y_val).float().mean().item() == pytest.approx(best_epoch.val_accuracy)
