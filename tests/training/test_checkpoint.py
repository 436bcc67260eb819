"""Checkpoints in the loop: a trial stopped between two steps and trained again from its checkpoint ends with the
same weights and the same curve as one never stopped, whatever the techniques in play."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from optflow.config import Config, DataConfig, ModelConfig, TrainingConfig
from optflow.data import load_dataset
from optflow.models import build_model
from optflow.training import fit
from optflow.training.checkpoint import Checkpoints

MLP = ModelConfig(kind="mlp", hidden=(32,))


def fresh_model(data, config: TrainingConfig) -> torch.nn.Module:
    torch.manual_seed(config.seed)
    return build_model(Config(model=MLP, training=config), data.spec)


def curve(records) -> list[tuple]:
    """Everything an epoch measured but its wall time."""
    return [(r.epoch, r.train_loss, r.val_loss, r.val_accuracy, r.lr, r.steps) for r in records]


class StopAt:
    """A clean point that raises KeyboardInterrupt on its `stop`-th call, as a pending Ctrl-C does."""

    def __init__(self, stop: int) -> None:
        self.calls, self.stop = 0, stop

    def __call__(self) -> None:
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt("signal 2")


def run(data, config, checkpoints=None):
    model = fresh_model(data, config)
    records = list(fit(model, data, config, checkpoints=checkpoints))
    return model, records


def interrupted_then_resumed(data, config, path, stop: int, every: int = 0):
    first = Checkpoints(path, every, identity={"lr": config.lr}, clean_point=StopAt(stop))
    model = fresh_model(data, config)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for record in fit(model, data, config, checkpoints=first):
            seen.append(record)
    again = Checkpoints(path, every, identity={"lr": config.lr})
    model, records = run(data, config, again)
    return seen, again, model, records


TECHNIQUES = {
    "sgd with a step schedule": TrainingConfig(epochs=6, batch_size=64, lr=0.05, schedule="step", step_size=2),
    "adamw, warmup per step, clipping": TrainingConfig(
        epochs=6, batch_size=64, lr=0.01, optimizer="adamw", weight_decay=0.1, warmup_steps=10,
        schedule="cosine", schedule_interval="step", max_grad_norm=0.5,
    ),
    "accumulation and bf16": TrainingConfig(
        epochs=5, batch_size=32, lr=0.01, optimizer="adam", gradient_accumulation_steps=3, precision="bf16"
    ),
    "early stopping": TrainingConfig(epochs=30, batch_size=64, lr=0.5, early_stopping_patience=2),
}  # fmt: skip


@pytest.mark.parametrize("config", TECHNIQUES.values(), ids=TECHNIQUES.keys())
def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights_and_curve(digits, config, tmp_path):
    config = replace(config, dropout=0.2)  # dropout: the RNG state is restored too
    reference, expected = run(digits, config)
    steps = expected[0].steps
    stop = 2 * (steps + 1) + steps // 2  # a clean point halfway through the third epoch
    seen, checkpoints, model, records = interrupted_then_resumed(digits, config, tmp_path / "trial-0.pt", stop)

    assert len(seen) == 2 and checkpoints.resumed_from == 2
    assert curve(records) == curve(expected)  # the first two epochs replayed, the rest trained again
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_periodic_checkpoints_and_the_final_one(digits, tmp_path):
    config = TrainingConfig(epochs=5, batch_size=128, lr=0.05)
    checkpoints = Checkpoints(tmp_path / "trial-3.pt", every=2)
    epochs_at_save = []
    for record in fit(fresh_model(digits, config), digits, config, checkpoints=checkpoints):
        if checkpoints.path.exists():
            epochs_at_save.append((record.epoch, torch.load(checkpoints.path, weights_only=False)["epoch"]))
    assert epochs_at_save == [(2, 2), (3, 2), (4, 4)]  # written after epochs 2 and 4 (1-based), read a step later
    final = torch.load(checkpoints.path, weights_only=False)
    assert final["finished"] and final["epoch"] == 5 and len(checkpoints.seconds) == 3

    model, records = run(digits, config, Checkpoints(checkpoints.path, every=2))
    assert len(records) == 5  # a finished trial's checkpoint replays its curve and trains nothing
    assert not list(tmp_path.glob(".*.partial"))


def test_a_resume_from_a_loader_dataset_keeps_its_order(tmp_path):
    config = TrainingConfig(epochs=4, batch_size=50, lr=0.05)
    data = load_dataset(DataConfig(name="classification", n_samples=400, n_features=8, n_classes=3))
    tensors = torch.utils.data.TensorDataset
    data = replace(data, train_set=tensors(data.x_train, data.y_train), val_set=tensors(data.x_val, data.y_val))
    reference, expected = run(data, config)
    seen, _, model, records = interrupted_then_resumed(data, config, tmp_path / "trial-0.pt", stop=13)
    assert curve(records) == curve(expected) and len(seen) == 1
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())


def test_a_checkpoint_of_other_params_is_not_resumed_from(digits, tmp_path):
    config = TrainingConfig(epochs=3, batch_size=128, lr=0.05)
    path = tmp_path / "trial-0.pt"
    list(fit(fresh_model(digits, config), digits, config, checkpoints=Checkpoints(path, 1, identity={"lr": 0.05})))
    other = Checkpoints(path, 1, identity={"lr": 0.1})
    records = list(fit(fresh_model(digits, config), digits, config, checkpoints=other))
    assert other.resumed_from is None and len(records) == 3
