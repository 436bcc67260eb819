"""Every training technique proven by an observable effect."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from optflow.config import Config, ModelConfig, TrainingConfig
from optflow.models import build_model
from optflow.training import TrainingDiverged, fit
from optflow.training.optim import weight_parameters
from optflow.training.schedules import SCHEDULES

MLP = ModelConfig(kind="mlp", hidden=(32,))


def new_model(model_config: ModelConfig, config: TrainingConfig, data):
    return build_model(Config(model=model_config, training=config), data.spec)


def train(data, config: TrainingConfig, model_config: ModelConfig = MLP, **kwargs):
    model = new_model(model_config, config, data)
    return model, list(fit(model, data, config, **kwargs))


@pytest.mark.parametrize("schedule", ["constant", "exponential", "step", "inverse_time", "cosine"])
def test_logged_lr_per_epoch_is_the_schedule(small_classification, schedule):
    config = TrainingConfig(epochs=12, lr=0.1, schedule=schedule, gamma=0.8, step_size=4, decay_rate=0.5)
    _, records = train(small_classification, config)
    assert [r.lr for r in records] == pytest.approx([SCHEDULES[schedule](0.1, config, 12)(t) for t in range(12)])


def test_schedule_lr_reaches_the_optimizer(small_classification):
    """The optimiser steps with the scheduled rate: lr 0.1 in epoch 0 moves the weights, then ~0 freezes them."""
    config = TrainingConfig(epochs=3, lr=0.1, schedule="step", gamma=1e-12, step_size=1)
    model = new_model(MLP, config, small_classification)
    initial = model[0].weight.detach().clone()
    weights = [model[0].weight.detach().clone() for _ in fit(model, small_classification, config)]
    assert not torch.allclose(initial, weights[0])
    assert torch.allclose(weights[1], weights[2], atol=1e-9)


def test_full_batch_takes_one_step_per_epoch(small_classification):
    for config in (TrainingConfig(epochs=3, batch_size="full"), TrainingConfig(epochs=3, optimizer="gd")):
        _, records = train(small_classification, config)
        assert [r.steps for r in records] == [1, 1, 1]


@pytest.mark.parametrize("batch_size", [1, 7, 32, 1000])
def test_mini_batch_takes_ceil_n_over_b_steps(small_classification, batch_size):
    n = small_classification.x_train.shape[0]
    _, records = train(small_classification, TrainingConfig(epochs=2, batch_size=batch_size))
    assert [r.steps for r in records] == [math.ceil(n / min(batch_size, n))] * 2


def test_l1_drives_more_weights_to_zero(small_classification):
    def near_zero(l1: float) -> int:
        config = TrainingConfig(epochs=40, batch_size="full", optimizer="gd", lr=0.3, l1=l1, seed=3)
        model, _ = train(small_classification, config, ModelConfig(kind="linear"))
        return sum(int((w.abs() < 1e-2).sum()) for w in weight_parameters(model))

    assert near_zero(0.05) > near_zero(0.0) + 5


def test_l1_is_in_the_loss_not_weight_decay(small_classification):
    """Same seed, L1 on: the optimiser has no weight decay, yet the weights shrink."""
    base = TrainingConfig(epochs=10, batch_size="full", optimizer="gd", lr=0.3, seed=1)
    plain, _ = train(small_classification, base, ModelConfig(kind="linear"))
    sparse, _ = train(small_classification, replace(base, l1=0.05), ModelConfig(kind="linear"))
    assert sparse[0].weight.abs().sum() < plain[0].weight.abs().sum()


def test_l2_shrinks_weights(small_classification):
    base = TrainingConfig(epochs=20, batch_size="full", optimizer="gd", lr=0.3, seed=1)
    plain, _ = train(small_classification, base)
    decayed, _ = train(small_classification, replace(base, l2=0.5))
    assert decayed[0].weight.norm() < plain[0].weight.norm()


def test_early_stopping_stops_after_patience(small_classification):
    # A learning rate this small cannot improve val_loss by min_delta: stop after 1 + patience epochs.
    config = TrainingConfig(epochs=50, lr=1e-9, early_stopping_patience=3, min_delta=1e-3)
    _, records = train(small_classification, config)
    assert len(records) == 4


def test_early_stopping_off_runs_all_epochs(small_classification):
    _, records = train(small_classification, TrainingConfig(epochs=6, lr=1e-9, early_stopping_patience=0))
    assert len(records) == 6


def test_best_weights_are_restored(small_classification):
    config = TrainingConfig(epochs=15, lr=0.5, optimizer="momentum", seed=0)
    model, records = train(small_classification, config)
    model.eval()
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model(small_classification.x_val), small_classification.y_val)
    assert float(loss) == pytest.approx(min(r.val_loss for r in records), rel=1e-5)


def test_divergence_raises_with_reason(diabetes):
    config = TrainingConfig(epochs=20, lr=1e6, optimizer="sgd", batch_size="full")
    with pytest.raises(TrainingDiverged, match=r"(train|val)_loss is (nan|inf) at epoch \d+"):
        train(diabetes, config)


def test_same_seed_same_numbers(small_classification):
    config = TrainingConfig(epochs=4, dropout=0.3, seed=7)
    _, first = train(small_classification, config)
    _, second = train(small_classification, config)
    assert [r.val_loss for r in first] == [r.val_loss for r in second]
    _, other = train(small_classification, replace(config, seed=8))
    assert [r.val_loss for r in first] != [r.val_loss for r in other]


def test_regression_reports_rmse_in_target_units(diabetes):
    _, records = train(diabetes, TrainingConfig(epochs=3, optimizer="adam", lr=0.01))
    last = records[-1]
    assert last.val_accuracy is None
    assert last.val_rmse == pytest.approx(math.sqrt(last.val_loss) * diabetes.target_scale)


def test_classification_reports_accuracy_and_learns(digits):
    _, records = train(digits, TrainingConfig(epochs=10, optimizer="adam", lr=0.01))
    assert records[-1].val_accuracy > 0.9
