"""The training loop: plain params in, one `EpochRecord` per epoch out.

Knows nothing of Optuna or MLflow, so pruning and tracking happen in whoever consumes the records. The data
set lives in tensors; an epoch shuffles once and slices views, so no per-sample Python work runs in the loop
and the only host synchronisation is one `.tolist()` per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict
from functools import partial
from itertools import islice
from typing import Any

import torch
from torch import nn

from optflow.config import TrainingConfig
from optflow.data import CLASSIFICATION, LANGUAGE_MODELING, Dataset
from optflow.errors import UsageError
from optflow.records import EpochRecord
from optflow.training.checkpoint import TrialCheckpoint, host_copy
from optflow.training.compilation import CompiledModel, compiled
from optflow.training.criteria import Criterion, loss_function
from optflow.training.optim import full_batch, make_optimizer, weight_parameters
from optflow.training.precision import Precision, clip
from optflow.training.schedules import step_rates


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says which loss and at which epoch."""


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; `cuda` without a GPU is the user's error (see `check_device`). Plain
    `cuda` is the current device (a pinned worker's GPU, also when `device` is a searched param), named."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def check_device(name: str, where: str = "training.device") -> None:
    """A `UsageError` naming `where` when the device does not exist on this machine."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{where} must be cpu or auto on this machine (torch sees no CUDA device); got 'cuda'")


def check_precision(precision: str, device: str, where: str = "training.precision") -> None:
    """A `UsageError` naming `where` for fp16 off CUDA: its gradient scaler is CUDA's."""
    if precision == "fp16" and resolve_device(device).type != "cuda":
        raise UsageError(f"{where} must be fp32 or bf16 on the CPU (fp16 needs a CUDA device); got 'fp16'")


def fit(
    model: nn.Module,
    data: Dataset,
    config: TrainingConfig,
    monitor: str = "val_loss",
    maximize: bool = False,
    metrics: Mapping[str, Criterion] | None = None,
    checkpoints: TrialCheckpoint | None = None,
) -> Iterator[EpochRecord]:
    """Train `model` in place, yielding a record per epoch; early-stops on `monitor`.

    `metrics` are extra validation metrics (name -> function of the whole validation set's outputs and targets).
    With `checkpoints`, training resumes from the trial's checkpoint when there is one (its epochs' records are
    yielded again first), writes one every `checkpoints.every` epochs and at the end, and one of the last step
    when `checkpoints.clean_point` raises `KeyboardInterrupt` between steps or validation batches.

    When the generator is exhausted (all epochs, or early stopping) the model holds the weights of its best
    epoch on `monitor`. Raises `TrainingDiverged` on a NaN/inf loss.
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)  # dropout masks
    device = resolve_device(config.device)
    model.to(device)
    loaders = data.train_set is not None  # map-style datasets: batches from DataLoaders, memory stays bounded
    data = data if loaders else data.to(device)
    shuffle = torch.Generator(device="cpu" if loaders else device).manual_seed(config.seed)
    optimizer = make_optimizer(model, config)
    precision = Precision(config.precision, device)
    forward = compiled(model) if config.compile else model
    loss_fn = loss_function(data.task, config.loss, config.label_smoothing)
    # with the user's loss, the task's metric needs the task's own loss beside it
    task_loss = loss_function(data.task) if config.loss else None
    validate = partial(
        _validate, forward, precision, data.task, loss_function(data.task, config.loss), task_loss, metrics or {},
        data.target_scale,
    )  # fmt: skip
    l1_weights = weight_parameters(model) if config.l1 > 0 else []

    n = len(data.train_set) if loaders else data.x_train.shape[0]
    batch = n if full_batch(config) else min(int(config.batch_size), n)
    sizes = [min(batch, n - s) for s in range(0, n, batch)]
    batch_sizes = torch.tensor(sizes, dtype=torch.float32, device=device)
    # gradient accumulation: batch i adds its share (rows / rows of its optimiser step) of the step's mean loss
    k = config.gradient_accumulation_steps
    step_rows = [sum(sizes[start : start + k]) for start in range(0, len(sizes), k)]
    shares = [size / step_rows[i // k] for i, size in enumerate(sizes)]
    closes_step = [i % k == k - 1 or i == len(sizes) - 1 for i in range(len(sizes))]
    steps_per_epoch = len(step_rows)
    rate = step_rates(config, steps_per_epoch, step_rows[0])  # rows of a full optimiser step
    if loaders:
        train_batches = _loader(data.train_set, batch, config, shuffle)
    records: list[EpochRecord] = []
    best, best_state, epochs_since_best = math.inf, None, 0
    sign = -1.0 if maximize else 1.0
    first_epoch, step, batches_done, batch_losses, current_lr = 0, 0, 0, [], math.nan
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    epoch_shuffle = shuffle.get_state()  # the generator as the current epoch began: its order can be drawn again

    def snapshot(epoch: int, done: int, finished: bool = False) -> dict[str, Any]:
        """Everything the next step depends on, on the host: `done` batches of `epoch` trained."""
        return host_copy({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": precision.state_dict(),
            "rng": torch.get_rng_state(), "cuda_rng": torch.cuda.get_rng_state(device) if cuda else None,
            "shuffle": epoch_shuffle if done else shuffle.get_state(),
            "epoch": epoch, "step": step, "batches_done": done, "batch_losses": batch_losses,
            "seconds": time.perf_counter() - started, "records": [asdict(record) for record in records],
            "best": best, "best_state": best_state, "epochs_since_best": epochs_since_best, "finished": finished,
        })  # fmt: skip

    saved = checkpoints.load() if checkpoints else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        precision.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"])
        if cuda and saved["cuda_rng"] is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        shuffle.set_state(saved["shuffle"])
        first_epoch, step, batches_done = saved["epoch"], saved["step"], saved["batches_done"]
        batch_losses = [loss.to(device) for loss in saved["batch_losses"]]
        records = [EpochRecord(**fields) for fields in saved["records"]]
        best, best_state, epochs_since_best = saved["best"], saved["best_state"], saved["epochs_since_best"]
        checkpoints.resumed_from = first_epoch
        yield from records  # the curve so far, for pruning and tracking to see again
    started = time.perf_counter() - (saved["seconds"] if saved else 0.0)

    def clean_point(epoch: int, done: int) -> None:
        """Between optimiser steps: a pending signal stops training here, after a checkpoint of this step."""
        if checkpoints is None:
            return
        try:
            checkpoints.clean_point()
        except KeyboardInterrupt:
            checkpoints.save(snapshot(epoch, done))
            raise

    finished = bool(saved and saved["finished"])
    for epoch in range(first_epoch, 0 if finished else config.epochs):
        if loaders:  # the loader's order follows from (seed, epoch) alone: DataLoaders draw from it unevenly
            shuffle.manual_seed(config.seed + epoch * 1_000_003)
        if checkpoints:  # a state copy per epoch (a device sync for a CUDA generator) only when it can be saved
            epoch_shuffle = shuffle.get_state()
        clean_point(epoch, batches_done)
        epoch_lr = rate(step - sum(closes_step[:batches_done]))  # the rate of the epoch's first step
        model.train()
        batches = _to(device, train_batches) if loaders else _tensor_batches(data, n, batch, shuffle, device)
        # resumed mid-epoch: the epoch's order drawn again, from the first batch not trained (a loader's order
        # is reseeded each epoch: past the last batch it need not load the epoch's batches to skip them)
        batches = () if loaders and batches_done == len(sizes) else islice(batches, batches_done, None)
        for i, (x, y) in enumerate(batches, start=batches_done):
            with precision.autocast():
                loss = loss_fn(forward(x), y)
            batch_losses.append(loss.detach())
            if l1_weights:
                loss = loss + config.l1 * sum(w.abs().sum() for w in l1_weights)
            precision.backward(loss * shares[i] if k > 1 else loss)
            if closes_step[i]:
                lr = rate(step)
                if lr != current_lr:  # per-epoch schedules without warmup set it once an epoch
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    current_lr = lr
                if config.max_grad_norm > 0:
                    precision.unscale(optimizer)
                    clip(model.parameters(), config.max_grad_norm)
                precision.step(optimizer)
                optimizer.zero_grad(set_to_none=True)
                step += 1
                clean_point(epoch, i + 1)

        train_loss = torch.stack(batch_losses) @ batch_sizes / n
        trained = partial(clean_point, epoch, len(sizes))  # a signal during validation: resume before it
        if loaders:
            measured = validate(train_loss, _to(device, _loader(data.val_set, batch, config)), trained)
        else:
            measured = validate(train_loss, [(data.x_val, data.y_val)], trained)
        batch_losses, batches_done = [], 0
        seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
        record = EpochRecord(
            epoch=epoch, lr=epoch_lr, steps=steps_per_epoch, seconds=seconds, samples=n, peak_memory_mb=peak, **measured
        )
        for name in ("train_loss", "val_loss"):
            value = getattr(record, name)
            if not math.isfinite(value):
                raise TrainingDiverged(f"{name} is {value} at epoch {epoch}")
        records.append(record)
        yield record

        score = sign * record.metrics()[monitor]
        if score < best - config.min_delta:
            best, epochs_since_best = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            epochs_since_best += 1
        stopping = bool(config.early_stopping_patience and epochs_since_best >= config.early_stopping_patience)
        if checkpoints and checkpoints.due(epoch + 1) and not stopping and epoch + 1 < config.epochs:
            checkpoints.save(snapshot(epoch + 1, 0))
        if stopping:
            break
    if checkpoints and not finished:
        checkpoints.save(snapshot(len(records), 0, finished=True))  # the trial's final state, kept for the best
    if best_state is not None:
        model.load_state_dict(best_state)


def _tensor_batches(data: Dataset, n: int, batch: int, shuffle: torch.Generator, device: torch.device) -> Iterator:
    """Views of the (reshuffled) tensors, one per step: no per-sample Python work."""
    if batch < n:
        order = torch.randperm(n, generator=shuffle, device=device)
        x_epoch, y_epoch = data.x_train[order], data.y_train[order]
    else:
        x_epoch, y_epoch = data.x_train, data.y_train
    for start in range(0, n, batch):
        yield x_epoch[start : start + batch], y_epoch[start : start + batch]


def _loader(dataset: Any, batch: int, config: TrainingConfig, shuffle: torch.Generator | None = None) -> Any:
    """A DataLoader over a map-style dataset: reshuffled each epoch by `shuffle` when training. The order has
    its own generator, apart from the one worker processes draw their seeds from (once with persistent
    workers, at every epoch without), so a resumed run draws each epoch's order as the first run did."""
    from torch.utils.data import DataLoader, RandomSampler

    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=RandomSampler(dataset, generator=shuffle) if shuffle is not None else None,
        generator=torch.Generator().manual_seed(config.seed),
        num_workers=config.num_workers,
        pin_memory=config.pin_memory,
        persistent_workers=config.num_workers > 0 and shuffle is not None,
    )


def _to(device: torch.device, batches: Any) -> Iterator:
    non_blocking = device.type == "cuda"
    for x, y in batches:
        yield x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)


@torch.no_grad()
def _validate(
    model: nn.Module | CompiledModel,
    precision: Precision,
    task: str,
    loss_fn: Criterion,
    task_loss: Criterion | None,
    metrics: Mapping[str, Criterion],
    target_scale: float,
    train_loss: torch.Tensor,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    between_batches: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """The epoch's losses and validation metrics, summed over batches on the device and read with one host
    synchronisation. The task's metric (accuracy, RMSE, bits per character) comes from the outputs, whatever
    loss trains the model (`task_loss` beside the user's loss); extra metrics see the whole validation set's
    outputs at once, on the host (as numpy and scikit-learn take them), so device memory stays bounded."""
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    outputs, targets, count = [], [], 0
    for x, y in batches:
        with precision.autocast():
            output = model(x).float()
        rows = len(y)
        _add(sums, "val_loss", loss_fn(output, y) * rows)
        if task_loss is not None:
            _add(sums, "task_loss", task_loss(output, y) * rows)
        if task == CLASSIFICATION:
            _add(sums, "correct", (output.argmax(dim=1) == y).sum())
        if metrics:
            outputs.append(output.cpu())
            targets.append(y.cpu())
        count += rows
        between_batches()
    names = list(sums)
    train, *values = torch.stack([train_loss, *(sums[name] for name in names)]).tolist()
    means = {name: value / count for name, value in zip(names, values, strict=True)}
    val = means["val_loss"]
    task_value = means.get("task_loss", val)
    measured: dict[str, Any] = {"train_loss": train, "val_loss": val}
    if task == CLASSIFICATION:
        measured["val_accuracy"] = means["correct"]
    elif task == LANGUAGE_MODELING:  # nats per character -> bits per character
        measured["val_bpc"] = task_value / math.log(2)
    else:
        measured["val_rmse"] = math.sqrt(task_value) * target_scale if math.isfinite(task_value) else task_value
    if metrics:
        output, target = (torch.cat(outputs), torch.cat(targets)) if len(outputs) > 1 else (outputs[0], targets[0])
        measured["extra"] = {name: float(function(output, target)) for name, function in metrics.items()}
    return measured


def _add(sums: dict[str, torch.Tensor], name: str, value: torch.Tensor) -> None:
    sums[name] = sums[name] + value if name in sums else value
