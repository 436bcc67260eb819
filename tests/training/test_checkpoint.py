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
from optflow.training.checkpoint import TrialCheckpoint

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


def interrupted_then_resumed(data, config, path, *stops: int):
    """Stopped at each of `stops` (clean points counted from each run's start), then run to the end."""
    seen = []
    for stop in stops:
        stopped = TrialCheckpoint(path, 0, identity={"lr": config.lr}, clean_point=StopAt(stop))
        with pytest.raises(KeyboardInterrupt):
            for record in fit(fresh_model(data, config), data, config, checkpoints=stopped):
                seen.append(record)
    again = TrialCheckpoint(path, 0, identity={"lr": config.lr})
    model, records = run(data, config, again)
    return seen, again, model, records


def clean_points(epochs: int, steps: int, within: int) -> int:
    """The clean point `within` an epoch, counted from the start: each epoch has one at its start, one after
    each optimiser step and one after each validation batch (one here)."""
    return epochs * (steps + 2) + within


def first_epoch_after_a_worse_one(records) -> int:
    """An epoch that begins with early stopping's counter at 1: the one after the first epoch that did not
    improve on the best before it."""
    for i in range(1, len(records) - 1):
        if records[i].val_loss >= min(r.val_loss for r in records[:i]):
            return i + 1
    return 2


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
    epoch = first_epoch_after_a_worse_one(expected)
    assert config.early_stopping_patience == 0 or epoch > 2  # early stopping's counter is mid-count there
    stop = clean_points(epoch, steps, 1 + steps // 2)  # halfway through that epoch
    seen, checkpoints, model, records = interrupted_then_resumed(digits, config, tmp_path / "trial-0.pt", stop)

    assert len(seen) == epoch and checkpoints.resumed_from == epoch
    assert curve(records) == curve(expected)  # the epochs done replayed, the rest trained again
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_a_run_stopped_during_validation_and_again_after_resuming_ends_the_same(digits, tmp_path):
    config = replace(TECHNIQUES["sgd with a step schedule"], dropout=0.2)
    reference, expected = run(digits, config)
    steps = expected[0].steps
    during_validation = clean_points(1, steps, steps + 1)  # epoch 1's trained, its validation under way
    mid_epoch = 3 + steps // 2  # from the resumed run's start: epoch 1's start and validation, epoch 2 halfway
    seen, checkpoints, model, records = interrupted_then_resumed(
        digits, config, tmp_path / "trial-0.pt", during_validation, mid_epoch
    )
    assert [r.epoch for r in seen] == [0, 0, 1]  # the second run replays epoch 0, validates 1, stops in 2
    assert checkpoints.resumed_from == 2
    assert curve(records) == curve(expected)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())


def test_periodic_checkpoints_and_the_final_one(digits, tmp_path):
    config = TrainingConfig(epochs=5, batch_size=128, lr=0.05)
    checkpoints = TrialCheckpoint(tmp_path / "trial-3.pt", every=2)
    epochs_at_save = []
    for record in fit(fresh_model(digits, config), digits, config, checkpoints=checkpoints):
        if checkpoints.path.exists():
            epochs_at_save.append((record.epoch, torch.load(checkpoints.path, weights_only=True)["epoch"]))
    assert epochs_at_save == [(2, 2), (3, 2), (4, 4)]  # written after epochs 2 and 4 (1-based), read a step later
    final = torch.load(checkpoints.path, weights_only=True)
    assert final["finished"] and final["epoch"] == 5 and len(checkpoints.seconds) == 3

    model, records = run(digits, config, TrialCheckpoint(checkpoints.path, every=2))
    assert len(records) == 5  # a finished trial's checkpoint replays its curve and trains nothing
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resume_from_a_loader_dataset_keeps_its_order(tmp_path, workers):
    config = TrainingConfig(epochs=4, batch_size=50, lr=0.05, num_workers=workers)
    data = load_dataset(DataConfig(name="classification", n_samples=400, n_features=8, n_classes=3))
    tensors = torch.utils.data.TensorDataset
    data = replace(data, train_set=tensors(data.x_train, data.y_train), val_set=tensors(data.x_val, data.y_val))
    reference, expected = run(data, config)
    seen, _, model, records = interrupted_then_resumed(data, config, tmp_path / "trial-0.pt", 13)
    assert curve(records) == curve(expected) and len(seen) == 1
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())


def test_a_checkpoint_of_other_params_is_not_resumed_from(digits, tmp_path):
    config = TrainingConfig(epochs=3, batch_size=128, lr=0.05)
    path = tmp_path / "trial-0.pt"
    list(fit(fresh_model(digits, config), digits, config, checkpoints=TrialCheckpoint(path, 1, identity={"lr": 0.05})))
    other = TrialCheckpoint(path, 1, identity={"lr": 0.1})
    records = list(fit(fresh_model(digits, config), digits, config, checkpoints=other))
    assert other.resumed_from is None and len(records) == 3


def test_a_checkpoint_that_cannot_be_written_costs_the_resume_not_the_trial(digits, tmp_path, caplog):
    config = TrainingConfig(epochs=3, batch_size=128, lr=0.05)
    (tmp_path / "full").write_text("")  # a file where the directory should be: every save fails
    broken = TrialCheckpoint(tmp_path / "full" / "trial-0.pt", 1)
    assert len(list(fit(fresh_model(digits, config), digits, config, checkpoints=broken))) == 3
    said = [r.message for r in caplog.records if r.message.startswith(f"could not write checkpoint {broken.path} (")]
    assert len(said) == 1 and said[0].endswith("); training goes on")  # once, not at every epoch

    stopped = TrialCheckpoint(broken.path, 1, clean_point=StopAt(3))
    with pytest.raises(KeyboardInterrupt):  # the interrupt goes on, not an OSError
        list(fit(fresh_model(digits, config), digits, config, checkpoints=stopped))


def test_an_unreadable_checkpoint_is_said_and_the_trial_starts_over(digits, tmp_path, caplog):
    config = TrainingConfig(epochs=2, batch_size=128, lr=0.05)
    path = tmp_path / "trial-0.pt"
    path.write_bytes(b"PK\x03\x04 cut short")
    checkpoints = TrialCheckpoint(path, 1)
    assert len(list(fit(fresh_model(digits, config), digits, config, checkpoints=checkpoints))) == 2
    assert checkpoints.resumed_from is None
    assert any(r.message.startswith(f"checkpoint {path} cannot be read") for r in caplog.records)
    assert torch.load(path, weights_only=True)["finished"]  # replaced by a good one
