"""Optimisers by name, L2 on the weights only, and what `gd` means."""

from __future__ import annotations

import pytest
import torch

from optflow.config import TrainingConfig
from optflow.training.optim import OPTIMIZERS, full_batch, make_optimizer


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_builds_and_applies_l2_to_weights_only(name):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    optimizer = make_optimizer(model, TrainingConfig(optimizer=name, l2=0.01))
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decays[id(model[0].weight)] == 0.01
    assert decays[id(model[0].bias)] == 0.0


def test_momentum_and_adam_are_the_torch_optimizers():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    assert make_optimizer(model, TrainingConfig(optimizer="momentum", momentum=0.8)).defaults["momentum"] == 0.8
    assert isinstance(make_optimizer(model, TrainingConfig(optimizer="adam")), torch.optim.Adam)


def test_gd_means_full_batch():
    assert full_batch(TrainingConfig(optimizer="gd", batch_size=32))
    assert full_batch(TrainingConfig(optimizer="sgd", batch_size="full"))
    assert not full_batch(TrainingConfig(optimizer="sgd", batch_size=32))
