"""The configuration's shape: frozen dataclasses, one per section, with a docstring under every field.

Validation lives in `validation.py` (each field), `consistency.py` (across fields) and `search.py`; these classes
only hold values that passed it. Which fields act under which others is in `applies.py`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from typing import Any

from optflow.config.objectives import Constraint, Objective, parse_constraint, parse_objective
from optflow.config.search_param import SearchParam
from optflow.contract import METRICS_MAXIMIZED
from optflow.urls import mask_password


@dataclass(frozen=True)
class StudyConfig:
    """How the search runs and where it is stored."""

    name: str = "optflow"
    """Optuna study name; also the MLflow study run's name."""
    sampler: str = "gp"
    """Search strategy: gp (optflow's Gaussian-process BO), tpe, random or grid."""
    n_trials: int = 20
    """Trial budget of the whole study (shared by all workers). The grid sampler stops at the grid size."""
    metric: str = "val_loss"
    """Validation metric the study optimises: val_loss, val_accuracy, val_rmse, val_bpc, or one of `metrics`."""
    metrics: tuple[str, ...] = ()
    """Extra validation metrics, your functions `my_pkg.metrics:f1` called as `f1(output, target)` on the whole
    validation set each epoch; logged as `val_f1` (the function's name, `val_` in front unless it has it)."""
    direction: str = "auto"
    """minimize, maximize, or auto (maximize for accuracy, minimize otherwise)."""
    objectives: tuple[str, ...] = ()
    """Further objectives after `metric`, to search the Pareto front of all: validation metrics (read at the epoch
    where `metric` was best), train_seconds or n_params; `name:maximize` where auto cannot tell. Pruning is
    off with several objectives (Optuna defines it for one)."""
    constraints: tuple[str, ...] = ()
    """Bounds every trial should meet, like `n_params <= 20000` or `val_accuracy >= 0.9` (names as in
    `objectives`); a trial that breaks one is never best, and the gp and tpe samplers learn where they hold."""
    pareto_models: int = 5
    """With several objectives and log_models best: how many Pareto-optimal trials' models are logged, best
    `metric` first."""
    storage: str = "sqlite:///optuna.db"
    """Optuna RDB storage URL. Prefer the OPTFLOW_STORAGE environment variable for URLs with passwords."""
    pruner: str = "none"
    """Early termination of unpromising trials: none, median, sha (successive halving) or hyperband."""
    seed: int = 0
    """Sampler seed: the same seed and config give the same trials."""
    experiment: str = ""
    """MLflow experiment name; empty means the study name (under `mlflow run`, the run's experiment)."""
    log_models: str = "best"
    """Which trained models go to MLflow: none, best or all."""
    system_metrics: bool = False
    """Log MLflow's system metrics (CPU, memory, disk, network, GPU utilisation) on each trial's run."""
    register_model: str = ""
    """Register the study's best model in the MLflow Model Registry under this name; empty: do not."""
    artifact_dir: str = ""
    """Optuna artifact store (trial loss curves for optuna-dashboard); empty: beside an SQLite storage file, else
    ./optuna_artifacts. Workers on several machines should share one directory (a network mount)."""

    @property
    def maximize(self) -> bool:
        """Whether the study maximises its metric: `direction`, or for `auto` what the metric implies."""
        if self.direction != "auto":
            return self.direction == "maximize"
        return self.metric in METRICS_MAXIMIZED

    @property
    def objective_list(self) -> list[Objective]:
        """Every objective, `metric` first, with its direction resolved."""
        first = Objective(self.metric, self.resolved_direction)
        rest = [parse_objective(text) for text in self.objectives]
        return [first, *(Objective(o.name, o.resolved()) for o in rest)]

    @property
    def directions(self) -> list[str]:
        """Optuna's `directions`, one per objective."""
        return [objective.direction for objective in self.objective_list]

    @property
    def multi_objective(self) -> bool:
        return bool(self.objectives)

    @property
    def constraint_list(self) -> list[Constraint]:
        return [parse_constraint(text) for text in self.constraints]

    @property
    def extra_metrics(self) -> dict[str, str]:
        """The names the extra metrics are logged under -> their functions' references."""
        return {metric_name(reference): reference for reference in self.metrics}

    @property
    def resolved_direction(self) -> str:
        """`maximize` or `minimize`, as Optuna takes it."""
        return "maximize" if self.maximize else "minimize"


@dataclass(frozen=True)
class DataConfig:
    """Which data set and how it is split."""

    name: str = "digits"
    """A bundled set (digits, iris, wine, breast_cancer, diabetes), synthetic (classification, regression) or csv."""
    path: str = ""
    """CSV file, for name: csv."""
    target: str = ""
    """Target column of the CSV."""
    task: str = "auto"
    """classification, regression or auto (from the target column)."""
    n_samples: int = 1000
    """Rows of a synthetic set."""
    n_features: int = 20
    """Columns of a synthetic set."""
    n_classes: int = 2
    """Classes of a synthetic classification set."""
    noise: float = 0.1
    """Label noise (classification: fraction flipped) or output noise (regression: std) of a synthetic set."""
    image_size: int = 32
    """image_folder: the side images are resized to (square)."""
    seq_len: int = 64
    """text: characters per training window (the context the model learns from)."""
    max_chars: int = 0
    """text: use only the first this many characters of the corpus; 0 = all of it."""
    val_fraction: float = 0.2
    """Share of rows held out for validation (stratified for classification)."""
    seed: int = 0
    """Seed of the split and of synthetic data."""
    factory: str = ""
    """The user's data: `my_pkg.data:load`, a function `load(params) -> optflow.DataSplits`; replaces `name`."""
    params: dict[str, Any] = field(default_factory=dict)
    """Arguments of the data factory, by name; each can be searched under its name."""


@dataclass(frozen=True)
class ModelConfig:
    """The network: a built-in family (a linear model, an MLP) or the user's own, by factory."""

    kind: str = "mlp"
    """linear, mlp, cnn (images: data.name digits_images or image_folder) or transformer (token sequences)."""
    hidden: tuple[int, ...] = (128,)
    """Hidden layer sizes of the MLP."""
    activation: str = "relu"
    """relu, tanh, gelu or sigmoid."""
    channels: int = 16
    """CNN: output channels of the first convolution block; each further block doubles them."""
    conv_layers: int = 2
    """CNN: convolution blocks (convolution, batch norm, activation, pooling)."""
    kernel_size: int = 3
    """CNN: side of the square convolution kernels (odd, padded to keep the size)."""
    batch_norm: bool = True
    """CNN: batch normalisation after each convolution."""
    pooling: str = "max"
    """CNN: downsampling after each block while the image is at least 2 pixels wide: max, avg or none."""
    d_model: int = 64
    """Transformer: width of the token representations (a multiple of n_heads)."""
    n_heads: int = 4
    """Transformer: attention heads per layer."""
    n_layers: int = 2
    """Transformer: encoder layers."""
    d_ff: int = 128
    """Transformer: width of each layer's feed-forward block."""
    factory: str = ""
    """The user's model: `my_pkg.models:build`, a function `build(params, spec) -> torch.nn.Module`; replaces
    `kind`. `spec` (an `optflow.DataSpec`) gives the input shape, the number of outputs and the task."""
    params: dict[str, Any] = field(default_factory=dict)
    """Arguments of the model factory, by name; each can be searched under its name."""


@dataclass(frozen=True)
class TrainingConfig:
    """The optimisation technique; every field can be searched."""

    epochs: int = 30
    """Passes over the training set (an upper bound with early stopping)."""
    batch_size: int | str = 64
    """Rows per optimiser step, or 'full' for full-batch gradient descent (one step per epoch)."""
    optimizer: str = "sgd"
    """gd (full-batch gradient descent), sgd, momentum, nesterov (SGD with Nesterov momentum), adam or adamw."""
    lr: float = 0.05
    """Initial learning rate (at `base_batch_size` when `lr_scaling` is on)."""
    momentum: float = 0.9
    """Momentum coefficient of the momentum and nesterov optimisers."""
    schedule: str = "constant"
    """Learning-rate schedule: constant, exponential, step, inverse_time or cosine."""
    schedule_interval: str = "epoch"
    """What the schedule counts: epoch (t = epochs done) or step (t = optimiser steps done), as Lightning's
    scheduler `interval`."""
    gamma: float = 0.95
    """Decay factor of the exponential (lr·γ^t) and step (lr·γ^floor(t/step_size)) schedules."""
    step_size: int = 10
    """Epochs (or steps, with schedule_interval step) between decays of the step schedule."""
    decay_rate: float = 0.1
    """k of the inverse-time schedule lr/(1+k·t)."""
    min_lr: float = 0.0
    """Floor of the cosine schedule."""
    warmup_steps: int = 0
    """Optimiser steps of linear warmup in front of the schedule: lr·(s+1)/warmup_steps at step s."""
    warmup_ratio: float = 0.0
    """Warmup as a share of all the run's optimiser steps, when warmup_steps is 0 (Hugging Face's name)."""
    lr_scaling: str = "none"
    """Scale lr with the batch: none, linear (lr·B/base_batch_size) or sqrt (lr·sqrt(B/base_batch_size)), where B
    is the rows per optimiser step (batch × accumulation), the batch really used."""
    base_batch_size: int = 64
    """The batch size `lr` is meant for when lr_scaling is on."""
    l1: float = 0.0
    """L1 penalty λ1·Σ|w| added to the loss (weights, not biases)."""
    l2: float = 0.0
    """L2 penalty (λ2/2)·Σw² on weights, applied as the optimiser's weight decay (not with adamw)."""
    weight_decay: float = 0.0
    """AdamW's decoupled weight decay, on weight matrices only (not biases or normalisation weights)."""
    dropout: float = 0.0
    """Dropout probability after each hidden layer."""
    label_smoothing: float = 0.0
    """Classes and next tokens: the share of each target spread over all classes in the training loss."""
    max_grad_norm: float = 0.0
    """Clip the gradients' global L2 norm to this before each step; 0 turns it off."""
    gradient_accumulation_steps: int = 1
    """Batches whose gradients add up before one optimiser step (rows per step = batch × this)."""
    precision: str = "fp32"
    """fp32, bf16 (autocast, CPU and CUDA) or fp16 (autocast with a gradient scaler, CUDA only)."""
    compile: bool = False
    """Compile the model with torch.compile (falls back to eager with a warning where it cannot)."""
    checkpoint_every: int = 10
    """Epochs between a trial's checkpoints, which a retried or rerun trial resumes from; one is also written when
    Ctrl-C or SIGTERM stops it and when it ends. 0 turns checkpoints off."""
    early_stopping_patience: int = 0
    """Stop after this many epochs without improvement of the monitored metric; 0 turns it off."""
    min_delta: float = 0.0
    """Smallest change of the monitored metric that counts as an improvement."""
    loss: str = ""
    """The loss to train on: empty for the task's own (cross-entropy, mean squared error), or your function
    `my_pkg.losses:focal`, called as `focal(output, target)` and returning a scalar tensor."""
    seed: int = 0
    """Seed of initialisation, shuffling and dropout."""
    device: str = "cpu"
    """auto, cpu or cuda."""
    threads: int = 1
    """torch intra-op threads per worker; 1 is fastest for small models and leaves cores to other workers."""
    num_workers: int = 0
    """DataLoader worker processes for a data factory's torch datasets (0: load in the training process)."""
    pin_memory: bool = False
    """DataLoader: page-locked batches, for faster copies to a GPU."""


@dataclass(frozen=True)
class ObjectiveConfig:
    """The user's own training loop, for training that is not a model + data + loss (GANs, RL, multi-stage)."""

    function: str = ""
    """`my_pkg.train:run`, called as `run(params, reporter)` once per trial; replaces optflow's trainer."""
    params: dict[str, Any] = field(default_factory=dict)
    """Its fixed arguments, by name; each can be searched under its name (the trial's values are merged in)."""


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration."""

    study: StudyConfig = field(default_factory=StudyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    search: tuple[SearchParam, ...] = ()

    @property
    def own_loop(self) -> bool:
        """Whether the user's function trains (optflow then loads no data and builds no model)."""
        return bool(self.objective.function)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-ready) of the resolved configuration."""
        out: dict[str, Any] = {}
        for section in SECTIONS:
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        out["search"] = {p.name: p.to_dict() for p in self.search}
        return out

    def searchable(self) -> dict[str, str]:
        """Every field a search may vary -> where it lives: the built-in ones (`lr` -> training) and the
        factories' params (`width` -> model.params)."""
        if self.own_loop:  # the function trains: only its own arguments can act
            return {name: "objective.params" for name in self.objective.params}
        return searchable_fields(self.model.params, self.data.params, built_in_model=not self.model.factory)

    def value_of(self, name: str) -> Any:
        """The config's own value of the searchable field `name`."""
        section, _, inner = self.searchable()[name].partition(".")
        holder = getattr(self, section)
        return getattr(holder, inner)[name] if inner else getattr(holder, name)

    def with_params(self, params: dict[str, Any]) -> Config:
        """This config with a trial's sampled fields (`lr`, `kind`, a factory's `width`) set where they live."""
        where = self.searchable()
        updates: dict[str, dict[str, Any]] = {}
        for name, value in params.items():
            section, _, inner = where[name].partition(".")
            if inner:  # a factory's params: a new dict with the value in it
                merged = updates.setdefault(section, {}).setdefault(inner, dict(getattr(self, section).params))
                merged[name] = value
            else:
                updates.setdefault(section, {})[name] = value
        return replace(self, **{section: replace(getattr(self, section), **u) for section, u in updates.items()})

    def applies(self, field: str) -> bool:
        """Whether `section.field` acts in this config (`applies.py` has the rules)."""
        from optflow.config.applies import applies  # it imports this module's classes

        return applies(self, field)

    def resolved(self) -> dict[str, Any]:
        """The config one training run used, YAML-ready, without the search and with the storage password
        masked: replay it with `optflow train --config`."""
        out = replace(self, search=()).to_dict()
        out["study"]["storage"] = mask_password(out["study"]["storage"])
        return out

    def best_trial_yaml(self, number: int, value: float, params: dict[str, Any]) -> str:
        """The resolved config of a study's best trial as a YAML file, with a header saying which it is."""
        import yaml

        header = f"# best trial {number} of study {self.study.name}: {self.study.metric} = {value}\n"
        return header + yaml.safe_dump(self.with_params(params).resolved(), sort_keys=False)


def metric_name(reference: str) -> str:
    """`my_pkg.metrics:f1` -> `val_f1`: an extra metric is named after its function, as a validation metric."""
    name = reference.rsplit(":", 1)[-1].split("#", 1)[0].rsplit(".", 1)[-1]
    return name if name.startswith("val_") else f"val_{name}"


SECTIONS: dict[str, type] = {
    "study": StudyConfig,
    "data": DataConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "objective": ObjectiveConfig,
}
CNN_FIELDS = ("channels", "conv_layers", "kernel_size", "batch_norm", "pooling")
TRANSFORMER_FIELDS = ("d_model", "n_heads", "n_layers", "d_ff")
# Fields a search may vary, and their section: every training field and the scalar model fields.
SEARCHABLE: dict[str, str] = {
    **{f.name: "training" for f in fields(TrainingConfig)},
    "kind": "model",
    "activation": "model",
    **{name: "model" for name in (*CNN_FIELDS, *TRANSFORMER_FIELDS)},
}


def searchable_fields(model_params: Any = (), data_params: Any = (), built_in_model: bool = True) -> dict[str, str]:
    """`SEARCHABLE` and the names of the factories' params, each -> where it lives. A factory's model has no
    built-in model fields to search (they would not act), so its params may take their names."""
    built_in = {name: section for name, section in SEARCHABLE.items() if built_in_model or section != "model"}
    return {**built_in, **{name: "model.params" for name in model_params}, **{n: "data.params" for n in data_params}}
