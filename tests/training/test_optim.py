"""Optimisers by name, L2 on the weights only, and what `gd` means."""

from __future__ import annotations

import pytest
import torch

from optflow.config import TrainingConfig
from optflow.training.optim import OPTIMIZERS, full_batch, make_optimizer


@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - {"adamw"}))
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


def test_adamw_decays_weight_matrices_but_not_biases_or_normalisation_weights():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Conv1d(4, 2, 3))
    optimizer = make_optimizer(model, TrainingConfig(optimizer="adamw", weight_decay=0.05, l2=0.3))
    assert isinstance(optimizer, torch.optim.AdamW)
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decays == {
        id(model[0].weight): 0.05, id(model[2].weight): 0.05,  # the layers' matrices and kernels
        id(model[0].bias): 0.0, id(model[1].weight): 0.0, id(model[1].bias): 0.0, id(model[2].bias): 0.0,
    }  # fmt: skip


def test_adamw_decay_is_decoupled_from_the_gradient():
    """With a zero gradient AdamW still shrinks the weight, by exactly w ← w·(1 − lr·λ): its decay bypasses the
    gradient's normalisation (Adam's L2 would enter the gradient and be normalised to a step of lr)."""
    weight = torch.nn.Parameter(torch.full((2, 2), 3.0))
    optimizer = make_optimizer(torch.nn.ParameterList([weight]), TrainingConfig(optimizer="adamw", lr=0.1,
                               weight_decay=0.5))  # fmt: skip
    weight.grad = torch.zeros_like(weight)
    optimizer.step()
    assert torch.allclose(weight, torch.full((2, 2), 3.0 * (1 - 0.1 * 0.5)))


def test_nesterov_is_sgd_with_nesterov_momentum():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    optimizer = make_optimizer(model, TrainingConfig(optimizer="nesterov", momentum=0.7))
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.7
