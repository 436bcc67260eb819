"""Every config field, declared once: frozen dataclasses, one per section, each field a `setting` holding its
default, rule, one-line help, whether a search may vary it and when it acts (`setting.py`).

Validation, `applies`, the searchable set, the CLI's flag help and the configuration reference are read from these
declarations. The whole config, and a trial's view of it, is `schema.Config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optflow.config import choices
from optflow.config.objectives import Constraint, MetricGoal, parse_constraint, parse_goal
from optflow.config.rules import (
    BATCH_SIZE,
    CONSTRAINTS,
    HIDDEN_SIZES,
    METRIC,
    OBJECTIVES,
    ODD,
    PARAMS,
    REFERENCE,
    REFERENCES,
    boolean,
    constant,
    number,
    one_of,
    registry,
    text,
)
from optflow.config.setting import Setting, above, choice, differs, equals, is_empty, is_set, setting, settings
from optflow.contract import METRICS_MAXIMIZED

BUILT_IN_MODEL = is_empty("model.factory")
BUILT_IN_DATA = is_empty("data.factory")


@dataclass(frozen=True)
class StudyConfig:
    """How the search runs and where it is stored."""

    name: str = setting("optflow", text(), "Optuna study name; also the MLflow study run's name.")
    sampler: str = setting(
        "gp",
        one_of(registry("optflow.search.samplers", "SAMPLERS")),
        "Search strategy: gp is optflow's Gaussian-process Bayesian optimisation.",
    )
    n_trials: int = setting(
        20,
        number(int, 1),
        "Trial budget of the whole study (shared by all workers). The grid sampler stops at the grid size.",
    )
    metric: str = setting(
        "val_loss",
        METRIC,
        "Validation metric the study optimises: one optflow reports, or one of `metrics`.",
    )
    metrics: tuple[str, ...] = setting(
        (),
        REFERENCES,
        "Extra validation metrics, your functions `my_pkg.metrics:f1` called as `f1(output, target)` on the whole "
        "validation set each epoch; logged as `val_f1` (the function's name, `val_` in front unless it has it).",
    )
    direction: str = setting(
        "auto",
        one_of(constant("auto", "minimize", "maximize")),
        "Whether `metric` is minimised or maximised; auto maximises accuracy and minimises the rest.",
    )
    objectives: tuple[str, ...] = setting(
        (),
        OBJECTIVES,
        "Further objectives after `metric`, to search the Pareto front of all: validation metrics (read at the "
        "epoch where `metric` was best), train_seconds or n_params; `name:maximize` where auto cannot tell. "
        "Pruning is off with several objectives (Optuna defines it for one).",
    )
    constraints: tuple[str, ...] = setting(
        (),
        CONSTRAINTS,
        "Bounds every trial should meet (names as in `objectives`); a trial that breaks one is never best, and "
        "the gp and tpe samplers learn where they hold.",
    )
    pareto_models: int = setting(
        5,
        number(int, 1),
        "With several objectives and log_models best: how many Pareto-optimal trials' models are logged, best "
        "`metric` first.",
        applies=is_set("study.objectives") & equals("study.log_models", "best"),
    )
    storage: str = setting(
        "sqlite:///optuna.db",
        text(),
        "Optuna RDB storage URL. Prefer the OPTFLOW_STORAGE environment variable for URLs with passwords.",
    )
    pruner: str = setting(
        "none",
        one_of(registry("optflow.search.pruners", "PRUNERS")),
        "Early termination of unpromising trials: sha is successive halving.",
    )
    seed: int = setting(0, number(int, 0), "Sampler seed: the same seed and config give the same trials.")
    experiment: str = setting(
        "",
        text(allow_empty=True),
        "MLflow experiment name; empty means the study name (under `mlflow run`, the run's experiment).",
    )
    log_models: str = setting("best", one_of(constant("none", "best", "all")), "Which trained models go to MLflow.")
    system_metrics: bool = setting(
        False,
        boolean(),
        "Log MLflow's system metrics (CPU, memory, disk, network, GPU utilisation) on each trial's run.",
    )
    register_model: str = setting(
        "",
        text(allow_empty=True),
        "Register the study's best model in the MLflow Model Registry under this name; empty: do not.",
    )
    artifact_dir: str = setting(
        "",
        text(allow_empty=True),
        "Optuna artifact store (trial loss curves for optuna-dashboard); empty: beside an SQLite storage file, "
        "else ./optuna_artifacts. Workers on several machines should share one directory (a network mount).",
    )

    @property
    def maximize(self) -> bool:
        """Whether the study maximises its metric: `direction`, or for `auto` what the metric implies."""
        if self.direction != "auto":
            return self.direction == "maximize"
        return self.metric in METRICS_MAXIMIZED

    @property
    def goals(self) -> list[MetricGoal]:
        """Every objective, `metric` first, with its direction resolved."""
        first = MetricGoal(self.metric, self.resolved_direction)
        rest = [parse_goal(text) for text in self.objectives]
        return [first, *(MetricGoal(goal.name, goal.resolved()) for goal in rest)]

    @property
    def directions(self) -> list[str]:
        """Optuna's `directions`, one per objective."""
        return [goal.direction for goal in self.goals]

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

    name: str = choice("digits", choices.DATASETS, "The data set, by name.", applies=BUILT_IN_DATA)
    path: str = setting("", text(allow_empty=True), "The file or folder the data set reads.")
    target: str = setting("", text(allow_empty=True), "Target column of the CSV.")
    task: str = setting(
        "auto",
        one_of(constant("auto", "classification", "regression")),
        "What the target is; auto: classes for text, booleans and a few integers, else regression.",
        applies=BUILT_IN_DATA,
    )
    n_samples: int = setting(1000, number(int, 10), "Rows of a synthetic set.")
    n_features: int = setting(20, number(int, 1), "Columns of a synthetic set.")
    n_classes: int = setting(2, number(int, 2), "Classes of a synthetic classification set.")
    noise: float = setting(
        0.1,
        number(float, 0),
        "Label noise (classification: fraction flipped) or output noise (regression: std) of a synthetic set.",
    )
    image_size: int = setting(32, number(int, 4), "The side images are resized to (square).")
    seq_len: int = setting(64, number(int, 2), "Characters per training window (the context the model learns from).")
    max_chars: int = setting(0, number(int, 0), "Use only the first this many characters of the corpus; 0 = all of it.")
    val_fraction: float = setting(
        0.2,
        number(float, 0, 1, "neither"),
        "Share of rows held out for validation (stratified for classification).",
        applies=BUILT_IN_DATA,
    )
    seed: int = setting(0, number(int, 0), "Seed of the split and of synthetic data.", applies=BUILT_IN_DATA)
    factory: str = setting(
        "",
        REFERENCE,
        "The user's data: `my_pkg.data:load`, a function `load(params) -> optflow.DataSplits`; replaces `name`.",
        applies=is_set("data.factory"),
    )
    params: dict[str, Any] = setting(
        {}, PARAMS, "Arguments of the data factory, by name; each can be searched (as `data.<name>`)."
    )


@dataclass(frozen=True)
class ModelConfig:
    """The network: a built-in family (a linear model, an MLP, a CNN, a transformer) or the user's own."""

    kind: str = choice("mlp", choices.MODELS, "The built-in network family.", searchable=True, applies=BUILT_IN_MODEL)
    hidden: tuple[int, ...] = setting(
        (128,),
        HIDDEN_SIZES,
        "Hidden layer sizes of the MLP; a search varies them as `mlp_layers` and `mlp_width_1`, `mlp_width_2`, ...",
    )
    activation: str = setting(
        "relu",
        one_of(registry("optflow.models.mlp", "ACTIVATIONS")),
        "The activation after each hidden layer or convolution.",
        searchable=True,
    )
    channels: int = setting(
        16,
        number(int, 1),
        "Output channels of the first convolution block; each further block doubles them.",
        searchable=True,
    )
    conv_layers: int = setting(
        2,
        number(int, 1),
        "Convolution blocks (convolution, batch norm, activation, pooling).",
        searchable=True,
    )
    kernel_size: int = setting(
        3, ODD, "Side of the square convolution kernels (odd, padded to keep the size).", searchable=True
    )
    batch_norm: bool = setting(True, boolean(), "Batch normalisation after each convolution.", searchable=True)
    pooling: str = setting(
        "max",
        one_of(constant("max", "avg", "none")),
        "Downsampling after each block while the image is at least 2 pixels wide.",
        searchable=True,
    )
    d_model: int = setting(
        64, number(int, 1), "Width of the token representations (a multiple of n_heads).", searchable=True
    )
    n_heads: int = setting(4, number(int, 1), "Attention heads per layer.", searchable=True)
    n_layers: int = setting(2, number(int, 1), "Encoder layers.", searchable=True)
    d_ff: int = setting(128, number(int, 1), "Width of each layer's feed-forward block.", searchable=True)
    factory: str = setting(
        "",
        REFERENCE,
        "The user's model: `my_pkg.models:build`, a function `build(params, spec) -> torch.nn.Module`; replaces "
        "`kind`. `spec` (an `optflow.DataSpec`) gives the input shape, the number of outputs and the task.",
        applies=is_set("model.factory"),
    )
    params: dict[str, Any] = setting(
        {}, PARAMS, "Arguments of the model factory, by name; each can be searched (as `model.<name>`)."
    )


@dataclass(frozen=True)
class TrainingConfig:
    """The optimisation technique; every field can be searched."""

    epochs: int = setting(
        30, number(int, 1), "Passes over the training set (an upper bound with early stopping).", searchable=True
    )
    batch_size: int | str = setting(
        64,
        BATCH_SIZE,
        "Rows per optimiser step, or 'full' for full-batch gradient descent (one step per epoch).",
        searchable=True,
    )
    optimizer: str = choice("sgd", choices.OPTIMIZERS, "The optimiser, by name.", searchable=True)
    lr: float = setting(
        0.05,
        number(float, 0, None, "neither"),
        "Initial learning rate (at `base_batch_size` when `lr_scaling` is on).",
        searchable=True,
    )
    momentum: float = setting(0.9, number(float, 0, 1, "left"), "Momentum coefficient.", searchable=True)
    schedule: str = choice("constant", choices.SCHEDULES, "Learning-rate schedule, by name.", searchable=True)
    schedule_interval: str = setting(
        "epoch",
        one_of(constant("epoch", "step")),
        "What the schedule counts: epoch (t = epochs done) or step (t = optimiser steps done), as Lightning's "
        "scheduler `interval`.",
        searchable=True,
    )
    gamma: float = setting(
        0.95,
        number(float, 0, 1, "right"),
        "Decay factor of the exponential (lr·γ^t) and step (lr·γ^floor(t/step_size)) schedules.",
        searchable=True,
    )
    step_size: int = setting(
        10,
        number(int, 1),
        "Epochs (or steps, with schedule_interval step) between decays of the step schedule.",
        searchable=True,
    )
    decay_rate: float = setting(0.1, number(float, 0), "k of the inverse-time schedule lr/(1+k·t).", searchable=True)
    min_lr: float = setting(0.0, number(float, 0), "Floor of the cosine schedule.", searchable=True)
    warmup_steps: int = setting(
        0,
        number(int, 0),
        "Optimiser steps of linear warmup in front of the schedule: lr·(s+1)/warmup_steps at step s.",
        searchable=True,
    )
    warmup_ratio: float = setting(
        0.0,
        number(float, 0, 1, "left"),
        "Warmup as a share of all the run's optimiser steps, when warmup_steps is 0 (Hugging Face's name).",
        searchable=True,
        applies=equals("training.warmup_steps", 0),
    )
    lr_scaling: str = setting(
        "none",
        one_of(constant("none", "linear", "sqrt")),
        "Scale lr with the batch: linear (lr·B/base_batch_size) or sqrt (lr·sqrt(B/base_batch_size)), where B is "
        "the rows per optimiser step (batch × accumulation), the batch really used.",
        searchable=True,
    )
    base_batch_size: int = setting(
        64,
        number(int, 1),
        "The batch size `lr` is meant for when lr_scaling is on.",
        searchable=True,
        applies=differs("training.lr_scaling", "none"),
    )
    l1: float = setting(
        0.0, number(float, 0), "L1 penalty λ1·Σ|w| added to the loss (weights, not biases).", searchable=True
    )
    l2: float = setting(
        0.0,
        number(float, 0),
        "L2 penalty (λ2/2)·Σw² on weights, applied as the optimiser's weight decay.",
        searchable=True,
    )
    weight_decay: float = setting(
        0.0,
        number(float, 0),
        "AdamW's decoupled weight decay, on weight matrices only (not biases or normalisation weights).",
        searchable=True,
    )
    dropout: float = setting(
        0.0, number(float, 0, 1, "left"), "Dropout probability after each hidden layer.", searchable=True
    )
    label_smoothing: float = setting(
        0.0,
        number(float, 0, 1, "left"),
        "Classes and next tokens: the share of each target spread over all classes in the training loss.",
        searchable=True,
        applies=is_empty("training.loss"),  # your loss smooths as it likes
    )
    max_grad_norm: float = setting(
        0.0,
        number(float, 0),
        "Clip the gradients' global L2 norm to this before each step; 0 turns it off.",
        searchable=True,
    )
    gradient_accumulation_steps: int = setting(
        1,
        number(int, 1),
        "Batches whose gradients add up before one optimiser step (rows per step = batch × this).",
        searchable=True,
    )
    precision: str = setting(
        "fp32",
        one_of(constant("fp32", "bf16", "fp16")),
        "bf16: autocast (CPU and CUDA); fp16: autocast with a gradient scaler (CUDA only).",
        searchable=True,
    )
    compile: bool = setting(
        False,
        boolean(),
        "Compile the model with torch.compile (falls back to eager with a warning where it cannot).",
        searchable=True,
    )
    checkpoint_every: int = setting(
        10,
        number(int, 0),
        "Epochs between a trial's checkpoints, which a retried or rerun trial resumes from; one is also written "
        "when Ctrl-C or SIGTERM stops it and when it ends. 0 turns checkpoints off.",
        searchable=True,
    )
    early_stopping_patience: int = setting(
        0,
        number(int, 0),
        "Stop after this many epochs without improvement of the monitored metric; 0 turns it off.",
        searchable=True,
    )
    min_delta: float = setting(
        0.0,
        number(float, 0),
        "Smallest change of the monitored metric that counts as an improvement.",
        searchable=True,
        applies=above("training.early_stopping_patience", 0),
    )
    loss: str = setting(
        "",
        REFERENCE,
        "The loss to train on: empty for the task's own (cross-entropy, mean squared error), or your function "
        "`my_pkg.losses:focal`, called as `focal(output, target)` and returning a scalar tensor.",
        searchable=True,
    )
    seed: int = setting(0, number(int, 0), "Seed of initialisation, shuffling and dropout.", searchable=True)
    device: str = setting(
        "cpu",
        one_of(constant("auto", "cpu", "cuda")),
        "Where trials train; auto: cuda where there is one.",
        searchable=True,
    )
    threads: int = setting(
        1,
        number(int, 1),
        "torch intra-op threads per worker; 1 is fastest for small models and leaves cores to other workers.",
        searchable=True,
    )
    num_workers: int = setting(
        0,
        number(int, 0),
        "DataLoader worker processes for a data factory's torch datasets (0: load in the training process).",
        searchable=True,
        applies=is_set("data.factory"),  # DataLoaders serve a data factory's torch datasets only
    )
    pin_memory: bool = setting(
        False,
        boolean(),
        "DataLoader: page-locked batches, for faster copies to a GPU.",
        searchable=True,
        applies=is_set("data.factory"),
    )


@dataclass(frozen=True)
class ObjectiveConfig:
    """The user's own training loop, for training that is not a model + data + loss (GANs, RL, multi-stage)."""

    function: str = setting(
        "",
        REFERENCE,
        "`my_pkg.train:run`, called as `run(params, reporter)` once per trial; replaces optflow's trainer.",
    )
    params: dict[str, Any] = setting(
        {},
        PARAMS,
        "Its fixed arguments, by name; each can be searched (as `objective.<name>`), the trial's values merged in.",
    )


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
# Fields a search may vary, and their section, as declared: every training field and the model's scalar ones.
SEARCHABLE: dict[str, str] = {
    name: section for section, cls in SECTIONS.items() for name, s in settings(cls).items() if s.searchable
}


def declared(field: str) -> Setting:
    """The declaration of `section.field`."""
    section, _, name = field.partition(".")
    return settings(SECTIONS[section])[name]
