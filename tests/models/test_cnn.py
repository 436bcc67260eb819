"""The CNN family: its searchable architecture shows in the network, it learns digits as images, and it refuses
tables in one line before anything is made."""

from __future__ import annotations

import pytest
import torch
from conftest import count_rows
from torch import nn

from optflow.cli import main
from optflow.config import build_config
from optflow.data import DataSpec
from optflow.models import build_model

IMAGES = DataSpec((3, 16, 16), 5, "classification")


def cnn(**model) -> nn.Module:
    return build_model(build_config({"model": {"kind": "cnn", **model}, "training": {"dropout": 0.2}}), IMAGES)


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_each_searchable_field_shapes_the_network():
    assert count(cnn(conv_layers=3), nn.Conv2d) == 3
    convs = [m for m in cnn(channels=8, conv_layers=3).modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]  # doubling per block
    assert convs[0].kernel_size == (3, 3) and cnn(kernel_size=5).get_submodule("0").kernel_size == (5, 5)
    assert count(cnn(batch_norm=True), nn.BatchNorm2d) == 2 and count(cnn(batch_norm=False), nn.BatchNorm2d) == 0
    assert convs[0].bias is None and cnn(batch_norm=False).get_submodule("0").bias is not None
    assert count(cnn(pooling="max"), nn.MaxPool2d) == 2 and count(cnn(pooling="avg"), nn.AvgPool2d) == 2
    assert count(cnn(pooling="none"), nn.MaxPool2d) == 0
    assert count(cnn(), nn.Dropout) == 1 and isinstance(cnn(activation="gelu").get_submodule("2"), nn.GELU)


def test_pooling_stops_at_one_pixel_and_the_head_answers_per_image():
    model = cnn(conv_layers=6, channels=2)  # 16 -> 8 -> 4 -> 2 -> 1, then no more pooling
    assert count(model, nn.MaxPool2d) == 4
    assert model(torch.zeros(7, 3, 16, 16)).shape == (7, 5)


def test_a_cnn_learns_digits_as_images(workdir, capsys):
    digits_cnn = ["--data", "digits_images", "--epochs", "4", "--set", "model.kind=cnn"]
    code = main(["train", "--no-tracking", "--quiet", *digits_cnn, "--set", "training.optimizer=adam"])
    assert code == 0
    value = float(capsys.readouterr().out.split("best val_loss = ")[1].split()[0])
    assert value < 0.5  # chance is ln(10) = 2.3


def test_a_cnn_on_a_table_is_refused_before_anything_is_made(workdir, capsys):
    code = main(["tune", "--data", "digits", "--set", "model.kind=cnn", "--n-trials", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "model.kind cnn needs images (channels, height, width)" in err and "got inputs of shape (64,)" in err
    assert count_rows(workdir / "mlflow.db", "runs") == 0 and count_rows(workdir / "optuna.db", "studies") == 0


@pytest.mark.parametrize("field,bad", [("kernel_size", 4), ("pooling", "median"), ("batch_norm", "yes")])
def test_bad_architecture_values_name_the_field(field, bad):
    from conftest import config_error

    assert config_error({"model": {"kind": "cnn", field: bad}}).startswith(f"model.{field} must be ")
