"""Each schedule equals its formula and the matching torch.optim.lr_scheduler."""

from __future__ import annotations

import math

import pytest
import torch

from optflow.config import TrainingConfig
from optflow.training.schedules import SCHEDULES, cosine, exponential, inverse_time, step

EPOCHS = 25


def torch_lrs(make_scheduler, lr0: float = 0.1) -> list[float]:
    """Learning rates a torch scheduler gives for epochs 0..EPOCHS-1."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(EPOCHS):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_constant_is_constant():
    config = TrainingConfig(lr=0.3)  # the default schedule
    schedule = SCHEDULES[config.schedule](config.lr, config, config.epochs)
    assert [schedule(t) for t in range(EPOCHS)] == [0.3] * EPOCHS


def test_exponential_matches_formula_and_torch():
    ours = [exponential(0.1, 0.9)(t) for t in range(EPOCHS)]
    assert ours == pytest.approx([0.1 * 0.9**t for t in range(EPOCHS)])
    assert ours == pytest.approx(torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)))


def test_step_matches_formula_and_torch():
    ours = [step(0.1, 0.5, 7)(t) for t in range(EPOCHS)]
    assert ours == pytest.approx([0.1 * 0.5 ** (t // 7) for t in range(EPOCHS)])
    assert ours == pytest.approx(torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)))


def test_inverse_time_matches_formula_and_torch():
    ours = [inverse_time(0.1, 0.3)(t) for t in range(EPOCHS)]
    assert ours == pytest.approx([0.1 / (1 + 0.3 * t) for t in range(EPOCHS)])
    lambda_lr = torch_lrs(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + 0.3 * t)))
    assert ours == pytest.approx(lambda_lr)


def test_cosine_matches_formula_and_torch():
    ours = [cosine(0.1, 0.001, EPOCHS)(t) for t in range(EPOCHS)]
    expected = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / EPOCHS)) / 2 for t in range(EPOCHS)]
    assert ours == pytest.approx(expected)
    torch_cosine = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS, eta_min=0.001))
    assert ours == pytest.approx(torch_cosine)
