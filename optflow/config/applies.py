"""Which fields act in a config: `training.momentum` only with a momentum optimiser, `data.path` only for a
CSV, a built-in model's fields only without a model factory. A run lists only the params it used, so the MLflow
compare view shows real differences."""

from __future__ import annotations

from collections.abc import Callable

from optflow.config.schema import CNN_FIELDS, TRANSFORMER_FIELDS, Config

SYNTHETIC = ("classification", "regression")


def _built_in_model(config: Config) -> bool:
    return not config.model.factory


def _built_in_data(config: Config) -> bool:
    return not config.data.factory


# Fields that act only under another field's value (the rest always act).
APPLIES: dict[str, Callable[[Config], bool]] = {
    "study.pareto_models": lambda c: c.study.multi_objective and c.study.log_models == "best",
    "training.momentum": lambda c: c.training.optimizer in ("momentum", "nesterov"),
    "training.l2": lambda c: c.training.optimizer != "adamw",
    "training.weight_decay": lambda c: c.training.optimizer == "adamw",
    "training.schedule_interval": lambda c: c.training.schedule != "constant",
    "training.warmup_ratio": lambda c: c.training.warmup_steps == 0,
    "training.base_batch_size": lambda c: c.training.lr_scaling != "none",
    "training.label_smoothing": lambda c: not c.training.loss,  # your loss smooths as it likes
    "training.gamma": lambda c: c.training.schedule in ("exponential", "step"),
    "training.step_size": lambda c: c.training.schedule == "step",
    "training.decay_rate": lambda c: c.training.schedule == "inverse_time",
    "training.min_lr": lambda c: c.training.schedule == "cosine",
    "training.min_delta": lambda c: c.training.early_stopping_patience > 0,
    "training.batch_size": lambda c: c.training.optimizer != "gd",  # gradient descent takes the whole set
    # a linear model has no hidden layer to drop out of; a factory's model takes its own params
    "training.dropout": lambda c: _built_in_model(c) and c.model.kind in ("mlp", "cnn", "transformer"),
    "model.kind": _built_in_model,
    "model.hidden": lambda c: _built_in_model(c) and c.model.kind == "mlp",
    "model.activation": lambda c: _built_in_model(c) and c.model.kind in ("mlp", "cnn"),
    **{f"model.{name}": lambda c: _built_in_model(c) and c.model.kind == "cnn" for name in CNN_FIELDS},
    **{f"model.{name}": lambda c: _built_in_model(c) and c.model.kind == "transformer" for name in TRANSFORMER_FIELDS},
    "model.factory": lambda c: not _built_in_model(c),
    "data.name": _built_in_data,
    "data.task": _built_in_data,  # a factory's data says its task
    "data.val_fraction": _built_in_data,  # a factory makes its own splits
    "data.seed": _built_in_data,
    "data.path": lambda c: _built_in_data(c) and c.data.name in ("csv", "image_folder", "text"),
    "data.image_size": lambda c: _built_in_data(c) and c.data.name == "image_folder",
    "data.seq_len": lambda c: _built_in_data(c) and c.data.name == "text",
    "data.max_chars": lambda c: _built_in_data(c) and c.data.name == "text",
    "data.target": lambda c: _built_in_data(c) and c.data.name == "csv",
    "data.n_samples": lambda c: _built_in_data(c) and c.data.name in SYNTHETIC,
    "data.n_features": lambda c: _built_in_data(c) and c.data.name in SYNTHETIC,
    "data.noise": lambda c: _built_in_data(c) and c.data.name in SYNTHETIC,
    "data.n_classes": lambda c: _built_in_data(c) and c.data.name == "classification",
    "data.factory": lambda c: not _built_in_data(c),
    # DataLoaders serve a data factory's torch datasets only
    "training.num_workers": lambda c: not _built_in_data(c),
    "training.pin_memory": lambda c: not _built_in_data(c),
}


def applies(config: Config, field: str) -> bool:
    """Whether `section.field` acts in `config` (fields without a rule always act)."""
    rule = APPLIES.get(field)
    return rule is None or rule(config)
