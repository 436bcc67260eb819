"""The user's loss trains the model and is its val_loss; the task's metric still comes from the outputs; extra
metrics see the whole validation set, and the monitored one picks the weights fit leaves behind."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from model_outputs import predict
from torch.utils.data import TensorDataset

from optflow.config import Config, ModelConfig, TrainingConfig
from optflow.data import Dataset
from optflow.models import build_model
from optflow.training import fit

MLP = ModelConfig(kind="mlp", hidden=(16,))


def doubled_cross_entropy(output, target):
    return 2 * F.cross_entropy(output, target)


def doubled_squared_error(output, target):
    return 2 * F.mse_loss(output.squeeze(-1), target)


def train(data, config: TrainingConfig, **kwargs):
    model = build_model(Config(model=MLP, training=config), data.spec)
    return model, list(fit(model, data, config, **kwargs))


@pytest.mark.parametrize(
    ("fixture", "loss", "task_metric"),
    [
        ("small_classification", "tests.training.test_criteria:doubled_cross_entropy", "val_accuracy"),
        ("diabetes", "tests.training.test_criteria:doubled_squared_error", "val_rmse"),
    ],
)
def test_the_users_loss_trains_and_the_task_metric_stays_the_tasks(request, fixture, loss, task_metric):
    """Plain SGD on 2·loss with lr/2 takes the very steps of loss with lr: the losses double, the task's
    metric (from the outputs, not from val_loss) stays the same."""
    data = request.getfixturevalue(fixture)
    base = TrainingConfig(epochs=4, optimizer="sgd", lr=0.1, batch_size=32)
    _, plain = train(data, base)
    _, doubled = train(data, TrainingConfig(epochs=4, optimizer="sgd", lr=0.05, batch_size=32, loss=loss))
    for mine, theirs in zip(doubled, plain, strict=True):
        assert mine.train_loss == pytest.approx(2 * theirs.train_loss, rel=1e-4)
        assert mine.val_loss == pytest.approx(2 * theirs.val_loss, rel=1e-4)
        assert getattr(mine, task_metric) == pytest.approx(getattr(theirs, task_metric), rel=1e-4)


def macro_recall(output, target):
    predicted = output.argmax(1)
    return torch.stack([(predicted[target == c] == c).float().mean() for c in target.unique()]).mean()


def test_the_monitored_extra_metric_chooses_the_weights_fit_leaves(small_classification):
    config = TrainingConfig(epochs=8, optimizer="adam", lr=0.02, batch_size=32)
    model, records = train(small_classification, config, monitor="val_macro_recall", maximize=True,
                           metrics={"val_macro_recall": macro_recall})  # fmt: skip
    curve = [r.metrics()["val_macro_recall"] for r in records]
    assert len(set(curve)) > 1
    final = macro_recall(predict(model, small_classification.x_val), small_classification.y_val)
    assert final.item() == pytest.approx(max(curve))


def test_extra_metrics_see_the_whole_validation_set_when_it_comes_in_batches():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(100, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    train_set, val_set = TensorDataset(x[:60], y[:60]), TensorDataset(x[60:], y[60:])
    data = Dataset("sets", "classification", x[:4], y[:4], x[:4], y[:4], (), 2, train_set=train_set, val_set=val_set)
    seen = []

    def rows(output, target):
        seen.append((output.device.type, tuple(output.shape), target.tolist()))
        return len(target)

    _, records = train(data, TrainingConfig(epochs=2, optimizer="adam", batch_size=16), metrics={"val_rows": rows})
    assert [r.extra["val_rows"] for r in records] == [40, 40]  # three batches of 16, 16 and 8, joined
    assert seen[0] == ("cpu", (40, 2), y[60:].tolist())  # in order, on the host
