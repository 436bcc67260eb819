"""The training loop: plain params in, one `EpochRecord` per epoch out.

Knows nothing of Optuna or MLflow, so pruning and tracking happen in whoever consumes the records. The data
set lives in tensors; an epoch shuffles once and slices views, so no per-sample Python work runs in the loop
and the only host synchronisation is one `.tolist()` per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from typing import Any

import torch
from torch import nn

from optflow.config import TrainingConfig
from optflow.data import CLASSIFICATION, LANGUAGE_MODELING, Dataset
from optflow.errors import UsageError
from optflow.records import EpochRecord
from optflow.training.batches import BatchPlan, loader, tensor_batches, to_device
from optflow.training.checkpoint import TrialCheckpoint, host_copy
from optflow.training.compilation import CompiledModel, compiled
from optflow.training.criteria import Criterion, loss_function
from optflow.training.optim import make_optimizer, weight_parameters
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
    run = _Training(model, data, config, metrics or {}, checkpoints)
    state = run.state
    seconds_before = run.resume()
    state = run.state
    if seconds_before is not None:
        yield from state.records  # the curve so far, for pruning and tracking to see again
    run.started = time.perf_counter() - (seconds_before or 0.0)  # replaying is no training time
    sign = -1.0 if maximize else 1.0
    for epoch in range(state.epoch, 0 if state.finished else config.epochs):
        record = run.train_epoch(epoch)
        state.records.append(record)
        yield record
        stopping = state.judge(sign * record.metrics()[monitor], model, config)
        if checkpoints and checkpoints.due(epoch + 1) and not stopping and epoch + 1 < config.epochs:
            run.save(epoch + 1, 0)
        if stopping:
            break
    if checkpoints and not state.finished:
        run.save(len(state.records), 0, finished=True)  # the trial's final state, kept for the best
    if state.best_state is not None:
        model.load_state_dict(state.best_state)


@dataclass
class _State:
    """Where training stands, apart from the model's, optimiser's and generators' own states: what a checkpoint
    holds of the position and of early stopping."""

    epoch: int = 0
    step: int = 0  # optimiser steps done in the run
    batches_done: int = 0  # batches of `epoch` trained (a checkpoint written mid-epoch)
    batch_losses: list[torch.Tensor] = field(default_factory=list)  # this epoch's, on the device
    records: list[EpochRecord] = field(default_factory=list)
    best: float = math.inf  # the best monitored value so far, signed to be minimised
    best_state: dict[str, torch.Tensor] | None = None  # the weights of that epoch
    epochs_since_best: int = 0
    finished: bool = False  # a checkpoint of a trial that ended

    def judge(self, score: float, model: nn.Module, config: TrainingConfig) -> bool:
        """Take an epoch's signed score (keeping the weights of the best); whether early stopping ends training."""
        if score < self.best - config.min_delta:
            self.best, self.epochs_since_best = score, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.epochs_since_best += 1
        return bool(config.early_stopping_patience and self.epochs_since_best >= config.early_stopping_patience)


class _Training:
    """One model's training, set up once (device, optimiser, precision, loss, batch plan, schedule); it trains
    an epoch at a time, and saves and restores everything the next step depends on."""

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        config: TrainingConfig,
        metrics: Mapping[str, Criterion],
        checkpoints: TrialCheckpoint | None,
    ) -> None:
        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)  # dropout masks
        self.device = device = resolve_device(config.device)
        model.to(device)
        self.loaders = data.train_set is not None  # map-style datasets: batches from DataLoaders, memory bounded
        self.data = data = data if self.loaders else data.to(device)
        self.shuffle = torch.Generator(device="cpu" if self.loaders else device).manual_seed(config.seed)
        self.model, self.config, self.checkpoints = model, config, checkpoints
        self.optimizer = make_optimizer(model, config)
        self.precision = Precision(config.precision, device)
        self.forward = compiled(model) if config.compile else model
        self.loss_fn = loss_function(data.task, config.loss, config.label_smoothing)
        # with the user's loss, the task's metric needs the task's own loss beside it
        task_loss = loss_function(data.task) if config.loss else None
        val_loss = loss_function(data.task, config.loss)
        self.validate = partial(
            _validate, self.forward, self.precision, data.task, val_loss, task_loss, metrics, data.target_scale
        )
        self.l1_weights = weight_parameters(model) if config.l1 > 0 else []
        self.plan = plan = BatchPlan.of(len(data.train_set) if self.loaders else data.x_train.shape[0], config)
        self.batch_sizes = torch.tensor(plan.sizes, dtype=torch.float32, device=device)
        self.rate = step_rates(config, plan.steps, plan.step_rows)  # rows of a full optimiser step
        self.train_batches = loader(data.train_set, plan.size, config, self.shuffle) if self.loaders else None
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
        self.state = _State()
        self.current_lr = math.nan  # the rate the optimiser holds
        self.epoch_shuffle = self.shuffle.get_state()  # as the current epoch began: its order can be drawn again
        self.started = time.perf_counter()

    def resume(self) -> float | None:
        """Restore the trial's checkpoint, if it has one of this setup: the seconds it had trained, or None."""
        saved = self.checkpoints.load() if self.checkpoints else None
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.precision.load_state_dict(saved["scaler"])
            torch.set_rng_state(saved["rng"])
            if self.cuda and saved["cuda_rng"] is not None:
                torch.cuda.set_rng_state(saved["cuda_rng"], self.device)
            self.shuffle.set_state(saved["shuffle"])
            self.state = _State(
                epoch=saved["epoch"],
                step=saved["step"],
                batches_done=saved["batches_done"],
                batch_losses=[loss.to(self.device) for loss in saved["batch_losses"]],
                records=[EpochRecord(**fields) for fields in saved["records"]],
                best=saved["best"],
                best_state=saved["best_state"],
                epochs_since_best=saved["epochs_since_best"],
                finished=bool(saved["finished"]),
            )
            self.checkpoints.resumed_from = self.state.epoch
        return saved["seconds"] if saved is not None else None

    def save(self, epoch: int, done: int, finished: bool = False) -> None:
        """A checkpoint of everything the next step depends on: `done` batches of `epoch` trained."""
        state = self.state
        self.checkpoints.save(
            host_copy({
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.precision.state_dict(), "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(self.device) if self.cuda else None,
                "shuffle": self.epoch_shuffle if done else self.shuffle.get_state(),
                "epoch": epoch, "step": state.step, "batches_done": done, "batch_losses": state.batch_losses,
                "seconds": time.perf_counter() - self.started,
                "records": [asdict(record) for record in state.records], "best": state.best,
                "best_state": state.best_state, "epochs_since_best": state.epochs_since_best, "finished": finished,
            })
        )  # fmt: skip

    def clean_point(self, epoch: int, done: int) -> None:
        """Between optimiser steps: a pending signal stops training here, after a checkpoint of this step."""
        if self.checkpoints is None:
            return
        try:
            self.checkpoints.clean_point()
        except KeyboardInterrupt:
            self.save(epoch, done)
            raise

    def train_epoch(self, epoch: int) -> EpochRecord:
        """Train one epoch (from the first batch not trained, when resumed mid-epoch) and validate it."""
        config, plan, state = self.config, self.plan, self.state
        if self.loaders:  # the loader's order follows from (seed, epoch) alone: DataLoaders draw from it unevenly
            self.shuffle.manual_seed(config.seed + epoch * 1_000_003)
        if self.checkpoints:  # a state copy per epoch (a device sync for a CUDA generator) only when it can be saved
            self.epoch_shuffle = self.shuffle.get_state()
        self.clean_point(epoch, state.batches_done)
        epoch_lr = self.rate(state.step - plan.steps_before(state.batches_done))  # the rate of its first step
        self.model.train()
        if self.loaders:
            batches = to_device(self.device, self.train_batches)
        else:
            batches = tensor_batches(self.data, plan, self.shuffle, self.device)
        # resumed mid-epoch: the epoch's order drawn again, from the first batch not trained (a loader's order
        # is reseeded each epoch: past the last batch it need not load the epoch's batches to skip them)
        done = state.batches_done
        batches = () if self.loaders and done == len(plan.sizes) else islice(batches, done, None)
        for i, (x, y) in enumerate(batches, start=done):
            self._train_batch(i, x, y)
            if plan.closes_step[i]:
                self.clean_point(epoch, i + 1)

        train_loss = torch.stack(state.batch_losses) @ self.batch_sizes / plan.rows
        validated = partial(self.clean_point, epoch, len(plan.sizes))  # a signal during validation: resume before it
        if self.loaders:
            val_batches = to_device(self.device, loader(self.data.val_set, plan.size, config))
        else:
            val_batches = [(self.data.x_val, self.data.y_val)]
        measured = self.validate(train_loss, val_batches, validated)
        state.batch_losses, state.batches_done = [], 0
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.cuda else None
        record = EpochRecord(
            epoch=epoch, lr=epoch_lr, steps=plan.steps, seconds=time.perf_counter() - self.started,
            samples=plan.rows, peak_memory_mb=peak, **measured,
        )  # fmt: skip
        for name in ("train_loss", "val_loss"):
            value = getattr(record, name)
            if not math.isfinite(value):
                raise TrainingDiverged(f"{name} is {value} at epoch {epoch}")
        return record

    def _train_batch(self, i: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """Forward and backward batch `i` of the epoch; the optimiser steps when the batch closes a step."""
        config, plan, state = self.config, self.plan, self.state
        with self.precision.autocast():
            loss = self.loss_fn(self.forward(x), y)
        state.batch_losses.append(loss.detach())
        if self.l1_weights:
            loss = loss + config.l1 * sum(w.abs().sum() for w in self.l1_weights)
        self.precision.backward(loss * plan.shares[i] if config.gradient_accumulation_steps > 1 else loss)
        if not plan.closes_step[i]:
            return
        lr = self.rate(state.step)
        if lr != self.current_lr:  # per-epoch schedules without warmup set it once an epoch
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.current_lr = lr
        if config.max_grad_norm > 0:
            self.precision.unscale(self.optimizer)
            clip(self.model.parameters(), config.max_grad_norm)
        self.precision.step(self.optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1


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
