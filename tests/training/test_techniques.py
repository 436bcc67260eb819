"""The techniques large models need, each proven by an observable effect: warmup and per-step schedules,
batch-size scaling of the rate, clipping, accumulation, label smoothing, mixed precision and torch.compile."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from model_outputs import predict

from optflow.config import Config, ModelConfig, TrainingConfig
from optflow.models import build_model
from optflow.training import fit
from optflow.training import loop as training_loop
from optflow.training.schedules import cosine, exponential, step_rates

MLP = ModelConfig(kind="mlp", hidden=(32,))


def train(data, config: TrainingConfig, **kwargs):
    torch.manual_seed(config.seed)  # the same initial weights for every run of one test
    model = build_model(Config(model=MLP, training=config), data.spec)
    return model, list(fit(model, data, config, **kwargs))


def same_weights(a: torch.nn.Module, b: torch.nn.Module, **tolerance) -> bool:
    return all(
        torch.allclose(x, y, **tolerance) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


# ------------------------------------------------------------------------------------------------ schedules


def test_warmup_ramps_linearly_in_front_of_any_schedule():
    config = TrainingConfig(lr=0.2, schedule="exponential", gamma=0.5, epochs=4, warmup_steps=6)
    rate, schedule = step_rates(config, steps_per_epoch=3, rows_per_step=64), exponential(0.2, 0.5)
    expected = [schedule(s // 3) * min(1.0, (s + 1) / 6) for s in range(12)]
    assert [rate(s) for s in range(12)] == pytest.approx(expected)
    assert rate(0) == pytest.approx(0.2 / 6) and rate(5) == pytest.approx(schedule(1))  # full rate at step W-1


def test_warmup_ratio_counts_the_runs_steps_rounded_up():
    config = TrainingConfig(lr=0.1, epochs=10, warmup_ratio=0.25)  # 10 epochs x 7 steps: ceil(17.5) = 18
    rate = step_rates(config, steps_per_epoch=7, rows_per_step=64)
    assert rate(16) == pytest.approx(0.1 * 17 / 18) and rate(17) == rate(69) == pytest.approx(0.1)
    assert step_rates(replace(config, warmup_steps=3), 7, 64)(2) == pytest.approx(0.1)  # steps win over the ratio


def test_a_per_step_schedule_counts_optimiser_steps():
    config = TrainingConfig(lr=0.1, schedule="cosine", min_lr=0.01, epochs=5, schedule_interval="step")
    rate = step_rates(config, steps_per_epoch=8, rows_per_step=64)
    assert [rate(s) for s in range(40)] == pytest.approx([cosine(0.1, 0.01, 40)(s) for s in range(40)])
    per_epoch = step_rates(replace(config, schedule_interval="epoch"), steps_per_epoch=8, rows_per_step=64)
    assert [per_epoch(s) for s in range(40)] == pytest.approx([cosine(0.1, 0.01, 5)(s // 8) for s in range(40)])


@pytest.mark.parametrize(("rule", "factor"), [("linear", 4.0), ("sqrt", 2.0), ("none", 1.0)])
def test_the_scaling_rule_scales_lr_with_the_rows_per_step(rule, factor):
    config = TrainingConfig(lr=0.1, lr_scaling=rule, base_batch_size=32)
    assert step_rates(config, steps_per_epoch=1, rows_per_step=128)(0) == pytest.approx(0.1 * factor)


def test_the_optimiser_steps_with_each_steps_rate(small_classification):
    """A step-decay schedule per optimiser step, against a hand-written loop that steps torch's StepLR after
    every batch: the same weights."""
    config = TrainingConfig(epochs=3, optimizer="sgd", lr=0.2, batch_size=50, schedule="step", gamma=0.7,
                            step_size=2, schedule_interval="step")  # fmt: skip
    ours, records = train(small_classification, config)
    torch.manual_seed(config.seed)
    theirs = build_model(Config(model=MLP, training=config), small_classification.spec)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.7)
    shuffle, data = torch.Generator().manual_seed(config.seed), small_classification
    n = data.x_train.shape[0]
    torch.manual_seed(config.seed)
    for _ in range(3):
        order = torch.randperm(n, generator=shuffle)
        for start in range(0, n, 50):
            batch = order[start : start + 50]
            loss = F.cross_entropy(theirs(data.x_train[batch]), data.y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    last = max(records, key=lambda r: r.epoch)
    assert min(records, key=lambda r: r.val_loss) is last  # so fit kept the last epoch's weights
    assert same_weights(ours, theirs, atol=1e-6)
    assert [r.lr for r in records] == pytest.approx([0.2 * 0.7 ** (e * math.ceil(n / 50) // 2) for e in range(3)])


# ------------------------------------------------------------------------------------------------ gradients


def test_clipping_keeps_the_global_gradient_norm_under_the_limit(small_classification, monkeypatch):
    norms: list[float] = []
    make_optimizer = training_loop.make_optimizer

    def watched(model, config):
        optimizer = make_optimizer(model, config)

        def before_step(optimizer, args, kwargs):
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

        optimizer.register_step_pre_hook(before_step)
        return optimizer

    monkeypatch.setattr(training_loop, "make_optimizer", watched)
    config = TrainingConfig(epochs=3, optimizer="sgd", lr=2.0, batch_size=16)
    train(small_classification, config)
    unclipped, norms[:] = list(norms), []
    assert max(unclipped) > 0.5  # the limit below bites
    train(small_classification, replace(config, max_grad_norm=0.5))
    assert len(norms) == len(unclipped) and max(norms) <= 0.5 + 1e-5


def test_accumulated_micro_batches_take_the_step_of_one_batch_k_times_larger(small_classification):
    """4 micro-batches of 8 rows, then one step, against batches of 32: the same rows (the shuffle slices the
    same permutation), the same weights to float tolerance, also for the short last group of the epoch."""
    base = TrainingConfig(epochs=3, optimizer="momentum", lr=0.1, seed=3)
    large, large_records = train(small_classification, replace(base, batch_size=32))
    micro, micro_records = train(small_classification, replace(base, batch_size=8, gradient_accumulation_steps=4))
    assert same_weights(large, micro, atol=1e-5)
    assert [r.steps for r in micro_records] == [r.steps for r in large_records] == [math.ceil(240 / 32)] * 3
    assert [r.val_loss for r in micro_records] == pytest.approx([r.val_loss for r in large_records], rel=1e-5)
    assert [r.train_loss for r in micro_records] == pytest.approx([r.train_loss for r in large_records], rel=1e-5)


# ------------------------------------------------------------------------------------------------ targets


def test_label_smoothing_trains_less_confident_and_validates_on_the_plain_loss(small_classification):
    config = TrainingConfig(epochs=15, optimizer="adam", lr=0.02, batch_size=32)
    sharp, _ = train(small_classification, config)
    smooth, records = train(small_classification, replace(config, label_smoothing=0.3))
    x, y = small_classification.x_val, small_classification.y_val

    def confidence(model):
        return predict(model, x).softmax(1).max(1).values.mean().item()

    assert confidence(smooth) < confidence(sharp) - 0.05
    best = min(records, key=lambda r: r.val_loss)  # the weights fit left: val_loss is plain cross-entropy
    assert F.cross_entropy(predict(smooth, x), y).item() == pytest.approx(best.val_loss, rel=1e-5)


# ------------------------------------------------------------------------------------------------ precision


def test_bf16_autocast_on_the_cpu_trains_within_tolerance_of_fp32(small_classification):
    dtypes = set()
    config = TrainingConfig(epochs=6, optimizer="adam", lr=0.01, batch_size=32)
    _, fp32 = train(small_classification, config)
    torch.manual_seed(config.seed)
    model = build_model(Config(model=MLP, training=config), small_classification.spec)
    model[0].register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    bf16 = list(fit(model, small_classification, replace(config, precision="bf16")))
    assert dtypes == {torch.bfloat16}  # the layers ran in bf16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay fp32
    # bf16 keeps 8 bits of mantissa: the losses agree to a few per cent, the accuracy to a few rows
    assert bf16[-1].val_loss == pytest.approx(fp32[-1].val_loss, rel=0.05)
    assert abs(bf16[-1].val_accuracy - fp32[-1].val_accuracy) <= 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 needs a CUDA device (its gradient scaler)")
def test_fp16_with_a_gradient_scaler_on_cuda(small_classification):
    config = TrainingConfig(epochs=6, optimizer="adam", lr=0.01, batch_size=32, device="cuda")
    _, fp32 = train(small_classification, config)
    _, fp16 = train(small_classification, replace(config, precision="fp16"))
    assert fp16[-1].val_loss == pytest.approx(fp32[-1].val_loss, rel=0.05)


# ------------------------------------------------------------------------------------------------ compile


@pytest.mark.slow
def test_compile_trains_as_eager_does(small_classification):
    config = TrainingConfig(epochs=2, optimizer="sgd", lr=0.1, batch_size=60)
    _, eager = train(small_classification, config)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback here: a C compiler is installed
        _, compiled = train(small_classification, replace(config, compile=True))
    assert [r.val_loss for r in compiled] == pytest.approx([r.val_loss for r in eager], rel=1e-4)


def test_compile_falls_back_to_eager_with_one_warning(small_classification, monkeypatch):
    def refuses(model, *args, **kwargs):
        def call(x):
            raise RuntimeError("no C++ compiler found\nmore detail")

        return call

    monkeypatch.setattr(torch, "compile", refuses)
    config = TrainingConfig(epochs=2, optimizer="sgd", lr=0.1, batch_size=60)
    _, eager = train(small_classification, config)
    with pytest.warns(RuntimeWarning, match=r"^training.compile: torch.compile cannot compile this model here "
                      r"\(RuntimeError: no C\+\+ compiler found\); training without it$") as caught:  # fmt: skip
        _, fallback = train(small_classification, replace(config, compile=True))
    assert len(caught) == 1
    assert [r.val_loss for r in fallback] == pytest.approx([r.val_loss for r in eager])
