"""A raw mapping (as read from YAML) -> a validated `Config`: one rule per field in `RULES`, checked once.

Every error is one line naming the field, what it accepts and what it got; nothing else in optflow checks a
config field again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from optflow.config.objectives import TRIAL_MEASURES, parse_constraint, parse_objective
from optflow.config.references import describe_local, is_local, is_reference, resolve
from optflow.config.rules import Rule, constant, number, one_of, registry, text
from optflow.config.schema import SECTIONS, Config, metric_name, searchable_fields
from optflow.config.search import build_search, check_search
from optflow.contract import METRICS_MAXIMIZED, METRICS_MINIMIZED
from optflow.errors import UsageError


def _batch_size(value: Any) -> int | str:
    if value == "full":
        return "full"
    return number(int, 1).convert(value)


BATCH_SIZE = Rule(lambda: "an int in [1, inf) or 'full'", _batch_size, ("int", "categorical"), 0)


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        raise TypeError
    return tuple(number(int, 1).convert(v) for v in value)


def _odd(value: Any) -> int:
    value = number(int, 1).convert(value)
    if value % 2 == 0:
        raise ValueError
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _reference(value: Any) -> str:
    if not isinstance(value, str) or (value and not is_reference(value)):
        raise ValueError
    return value


KNOWN_METRICS = (*METRICS_MINIMIZED, *METRICS_MAXIMIZED)


def _metric(value: Any) -> str:
    if not isinstance(value, str) or not value.replace(".", "_").replace("/", "_").isidentifier():
        raise ValueError
    return value


# Any metric name may pass here (an own loop reports its own); `_check_consistency` holds optflow's trainer to
# the metrics it reports.
METRIC = Rule(
    lambda: "one of " + ", ".join(sorted(KNOWN_METRICS)) + " (or a metric your objective reports)", _metric, invalid=""
)

REFERENCE = Rule(lambda: "an import path like my_package.module:function, or empty", _reference, invalid="no dots")


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k.isidentifier() for k in value):
        raise TypeError
    return dict(value)


def _references(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and is_reference(v) for v in value):
        raise ValueError
    return tuple(value)


REFERENCES = Rule(lambda: "a list of import paths like my_package.metrics:f1", _references, invalid=[1])


def _texts(parse) -> Any:
    def convert(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise TypeError
        for entry in value:
            parse(entry)
        return tuple(entry.strip() for entry in value)

    return convert


OBJECTIVES = Rule(
    lambda: "a list of metric names (val_*, train_seconds, n_params), each optionally :minimize or :maximize",
    _texts(parse_objective),
    invalid=["n_params:smaller"],
)
CONSTRAINTS = Rule(
    lambda: "a list of bounds like 'n_params <= 20000' or 'val_accuracy >= 0.9'",
    _texts(parse_constraint),
    invalid=["n_params < 3"],
)

PARAMS = Rule(lambda: "a mapping of argument names to values", _params, invalid=[1])

RULES: dict[str, dict[str, Rule]] = {
    "study": {
        "name": text(),
        "sampler": one_of(registry("optflow.search.samplers", "SAMPLERS")),
        "n_trials": number(int, 1),
        "metric": METRIC,
        "metrics": REFERENCES,
        "direction": one_of(constant("auto", "minimize", "maximize")),
        "objectives": OBJECTIVES,
        "constraints": CONSTRAINTS,
        "pareto_models": number(int, 1),
        "storage": text(),
        "pruner": one_of(registry("optflow.search.pruners", "PRUNERS")),
        "seed": number(int, 0),
        "experiment": text(allow_empty=True),
        "log_models": one_of(constant("none", "best", "all")),
        "system_metrics": Rule(lambda: "true or false", _boolean, ("categorical",), "yes"),
        "register_model": text(allow_empty=True),
        "artifact_dir": text(allow_empty=True),
    },
    "data": {
        "name": one_of(registry("optflow.data", "DATASETS")),
        "path": text(allow_empty=True),
        "target": text(allow_empty=True),
        "task": one_of(constant("auto", "classification", "regression")),
        "n_samples": number(int, 10),
        "n_features": number(int, 1),
        "n_classes": number(int, 2),
        "noise": number(float, 0),
        "image_size": number(int, 4),
        "seq_len": number(int, 2),
        "max_chars": number(int, 0),
        "val_fraction": number(float, 0, 1, "neither"),
        "seed": number(int, 0),
        "factory": REFERENCE,
        "params": PARAMS,
    },
    "model": {
        "kind": one_of(registry("optflow.models", "MODELS")),
        "hidden": Rule(lambda: "a list of ints in [1, inf)", _hidden_sizes, invalid=[0]),
        "activation": one_of(registry("optflow.models.mlp", "ACTIVATIONS")),
        "channels": number(int, 1),
        "conv_layers": number(int, 1),
        "kernel_size": Rule(lambda: "an odd int in [1, inf)", _odd, ("int", "categorical"), 2),
        "batch_norm": Rule(lambda: "true or false", _boolean, ("categorical",), "yes"),
        "pooling": one_of(constant("max", "avg", "none")),
        "d_model": number(int, 1),
        "n_heads": number(int, 1),
        "n_layers": number(int, 1),
        "d_ff": number(int, 1),
        "factory": REFERENCE,
        "params": PARAMS,
    },
    "objective": {"function": REFERENCE, "params": PARAMS},
    "training": {
        "epochs": number(int, 1),
        "batch_size": BATCH_SIZE,
        "optimizer": one_of(registry("optflow.training.optim", "OPTIMIZERS")),
        "lr": number(float, 0, None, "neither"),
        "momentum": number(float, 0, 1, "left"),
        "schedule": one_of(registry("optflow.training.schedules", "SCHEDULES")),
        "schedule_interval": one_of(constant("epoch", "step")),
        "gamma": number(float, 0, 1, "right"),
        "step_size": number(int, 1),
        "decay_rate": number(float, 0),
        "min_lr": number(float, 0),
        "warmup_steps": number(int, 0),
        "warmup_ratio": number(float, 0, 1, "left"),
        "lr_scaling": one_of(constant("none", "linear", "sqrt")),
        "base_batch_size": number(int, 1),
        "l1": number(float, 0),
        "l2": number(float, 0),
        "weight_decay": number(float, 0),
        "dropout": number(float, 0, 1, "left"),
        "label_smoothing": number(float, 0, 1, "left"),
        "max_grad_norm": number(float, 0),
        "gradient_accumulation_steps": number(int, 1),
        "precision": one_of(constant("fp32", "bf16", "fp16")),
        "compile": Rule(lambda: "true or false", _boolean, ("categorical",), "yes"),
        "checkpoint_every": number(int, 0),
        "early_stopping_patience": number(int, 0),
        "min_delta": number(float, 0),
        "loss": REFERENCE,
        "seed": number(int, 0),
        "device": one_of(constant("auto", "cpu", "cuda")),
        "threads": number(int, 1),
        "num_workers": number(int, 0),
        "pin_memory": Rule(lambda: "true or false", _boolean, ("categorical",), "yes"),
    },
}


def _build_section(section: str, raw: Any) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"{section} must be a mapping of fields; got {raw!r}")
    rules = RULES[section]
    unknown = sorted(set(raw) - set(rules))
    if unknown:
        raise UsageError(f"{section}.{unknown[0]} is not a known field; known fields: {', '.join(sorted(rules))}")
    values = {name: rules[name].check(f"{section}.{name}", value) for name, value in raw.items()}
    return SECTIONS[section](**values)


def build_config(raw: Mapping[str, Any]) -> Config:
    """Validate a raw nested mapping (as read from YAML) into a `Config`."""
    if not isinstance(raw, Mapping):
        raise UsageError(f"the config must be a mapping of sections; got {type(raw).__name__}")
    known = (*SECTIONS, "search")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UsageError(f"{unknown[0]} is not a known config section; known sections: {', '.join(known)}")
    objective_raw = raw.get("objective")
    if isinstance(objective_raw, str):  # shorthand: `objective: my_pkg.train:run`
        objective_raw = {"function": objective_raw}
    data_raw = dict(raw.get("data") or {})
    if "csv" in data_raw:  # shorthand from DESIGN.md: {csv: path.csv, target: y}
        data_raw.setdefault("name", "csv")
        data_raw["path"] = data_raw.pop("csv")
    base = Config(
        study=_build_section("study", raw.get("study")),
        data=_build_section("data", data_raw),
        model=_build_section("model", raw.get("model")),
        training=_build_section("training", raw.get("training")),
        objective=_build_section("objective", objective_raw),
    )
    _check_factories(base)
    config = replace(base, search=build_search(raw.get("search"), RULES, base.searchable()))
    _check_consistency(config)
    return config


# What each factory is called with (the names say so in messages).
LOSS_ARGUMENTS = METRIC_ARGUMENTS = ("output", "target")
MODEL_FACTORY_ARGUMENTS = ("params", "spec")
DATA_FACTORY_ARGUMENTS = ("params",)
OBJECTIVE_ARGUMENTS = ("params", "reporter")


def _check_factories(config: Config) -> None:
    """Params only with a factory, names that say one thing, and factories that import and take the right
    arguments (what they return is checked once the data is loaded, still before anything is made)."""
    functions = (("model", "factory", MODEL_FACTORY_ARGUMENTS), ("data", "factory", DATA_FACTORY_ARGUMENTS))
    for section, key, arguments in (*functions, ("objective", "function", OBJECTIVE_ARGUMENTS)):
        values = getattr(config, section)
        function = getattr(values, key)
        if values.params and not function:
            raise UsageError(f"{section}.params needs {section}.{key} (the function they are passed to); got ''")
        # a factory's model has no built-in fields to search, an own loop none at all
        built_in = {} if config.own_loop else searchable_fields(built_in_model=not config.model.factory)
        for name in values.params:
            if name in built_in:
                raise UsageError(
                    f"{section}.params.{name} must not share its name with {built_in[name]}.{name} (a search "
                    f"names fields by their name alone); got {name!r}: rename it"
                )
        if function:
            resolve(f"{section}.{key}", function, arguments)
    _check_criteria(config)
    owners = {"model": config.model.params, "data": config.data.params, "objective": config.objective.params}
    for first, second in (("model", "data"), ("model", "objective"), ("data", "objective")):
        both = sorted(set(owners[first]) & set(owners[second]))
        if both:
            raise UsageError(
                f"{second}.params.{both[0]} must not share its name with {first}.params.{both[0]} (a search names "
                f"fields by their name alone); got {both[0]!r} in both"
            )


def _check_criteria(config: Config) -> None:
    """The user's loss and extra metrics import, take (output, target), and have names of their own."""
    loss, metrics = config.training.loss, config.study.metrics
    if config.own_loop and (loss or metrics):
        where, got = ("training.loss", loss) if loss else ("study.metrics", list(metrics))
        raise UsageError(
            f"{where} must be empty with objective.function (your loop computes its own loss and reports its "
            f"metrics through reporter.epoch); got {got!r}"
        )
    if loss:
        resolve("training.loss", loss, LOSS_ARGUMENTS)
    names: set[str] = set()
    for reference in metrics:
        resolve("study.metrics", reference, METRIC_ARGUMENTS)
        name = metric_name(reference)
        if not name.isidentifier():
            raise UsageError(
                f"study.metrics must name functions with names (a metric is named after its function); got "
                f"{describe_local(reference) if is_local(reference) else reference!r}"
            )
        if name in KNOWN_METRICS or name in names:
            raise UsageError(
                f"study.metrics must give each metric a name of its own (a function's name, val_ in front); got "
                f"{name!r} twice or clashing with optflow's {', '.join(sorted(KNOWN_METRICS))}: rename the function"
            )
        names.add(name)


def _in_memory(url: str) -> bool:
    """An SQLite URL without a file: each connection would get its own empty database."""
    if not url.startswith("sqlite"):
        return False
    path = url.split("://", 1)[-1].split("?", 1)[0]
    return path in ("", "/", "/:memory:") or "mode=memory" in url


def _check_consistency(config: Config) -> None:
    data = config.data
    if data.name == "csv" and not data.path:
        raise UsageError("data.path must name a CSV file when data.name is csv; got ''")
    if data.name == "image_folder" and not data.path and not data.factory:
        raise UsageError("data.path must name a folder of class sub-folders when data.name is image_folder; got ''")
    if data.name == "csv" and not data.target:
        raise UsageError("data.target must name the CSV's target column when data.name is csv; got ''")
    study = config.study
    known = (*KNOWN_METRICS, *study.extra_metrics)
    if not config.own_loop and study.metric not in known:
        raise UsageError(f"study.metric must be one of {', '.join(sorted(known))}; got {study.metric!r}")
    if study.direction == "auto" and study.metric not in KNOWN_METRICS:
        raise UsageError(
            f"study.direction must be minimize or maximize for metric {study.metric!r} (auto knows "
            f"{', '.join(sorted(KNOWN_METRICS))}); got 'auto'"
        )
    if _in_memory(study.storage):
        raise UsageError(
            "study.storage must be a database file or server, which outlives this process and every worker "
            f"shares (e.g. sqlite:///optuna.db); got {study.storage!r} (in memory)"
        )
    if study.register_model and study.log_models != "best":
        raise UsageError(f"study.log_models must be best when study.register_model is set; got {study.log_models!r}")
    if study.metric in METRICS_MAXIMIZED and study.direction == "minimize":
        raise UsageError(f"study.direction must be maximize or auto for metric {study.metric}; got 'minimize'")
    _check_objectives(config, known)
    training = config.training
    if training.gradient_accumulation_steps > 1 and (training.optimizer == "gd" or training.batch_size == "full"):
        raise UsageError(
            "training.gradient_accumulation_steps must be 1 with full-batch training (one step per epoch already "
            f"takes every row); got {training.gradient_accumulation_steps}"
        )
    if config.training.optimizer == "nesterov" and config.training.momentum == 0:
        raise UsageError("training.momentum must be in (0, 1) with optimizer nesterov; got 0.0")
    check_search(config)


MAX_GP_OBJECTIVES = 3  # the gp sampler's `MAX_OBJECTIVES`, not imported: the config imports no sampler code


def _check_objectives(config: Config, known: tuple[str, ...]) -> None:
    """Objectives and constraints name what a trial reports, once each, within what the sampler handles."""
    study = config.study
    allowed = ("train_seconds",) if config.own_loop else (*known, *TRIAL_MEASURES)
    names = [objective.name for objective in study.objective_list]
    for field, values in (("objectives", names[1:]), ("constraints", [c.name for c in study.constraint_list])):
        for name in values:
            if (name not in allowed and not config.own_loop) or (config.own_loop and name == "n_params"):
                what = ", ".join(sorted(allowed)) + (" or your loop's metrics" if config.own_loop else "")
                raise UsageError(f"study.{field} must name {what}; got {name!r}")
    if len(set(names)) < len(names):
        raise UsageError(f"study.objectives must differ from each other and from study.metric; got {names}")
    for entry in study.objectives:
        objective = parse_objective(entry)
        if objective.direction == "auto" and objective.name not in (*KNOWN_METRICS, *TRIAL_MEASURES):
            raise UsageError(
                f"study.objectives must give {objective.name!r} a direction ({objective.name}:minimize or "
                f":maximize); got {entry!r}"
            )
    if study.sampler == "gp" and len(names) > MAX_GP_OBJECTIVES:
        raise UsageError(
            f"study.objectives must hold at most {MAX_GP_OBJECTIVES - 1} names with the gp sampler (3 objectives "
            f"with study.metric); got {len(names) - 1}"
        )


# The validation metrics each task reports (classification: accuracy; regression: RMSE in the target's units).
TASK_METRICS = {
    "classification": ("val_loss", "val_accuracy"),
    "regression": ("val_loss", "val_rmse"),
    "language_modeling": ("val_loss", "val_bpc"),
}


def check_task(config: Config, task: str, data_name: str) -> None:
    """The study's metric is one the data's task reports (known once the data is loaded)."""
    if task == "regression" and config.training.label_smoothing > 0 and not config.training.loss:
        raise UsageError(
            f"training.label_smoothing must be 0 for regression data ({data_name}): it smooths class targets; "
            f"got {config.training.label_smoothing}"
        )
    allowed = (*TASK_METRICS.get(task, ("val_loss",)), *config.study.extra_metrics)
    metric = config.study.metric
    if metric not in allowed:
        raise UsageError(
            f"study.metric must be one of {', '.join(allowed)} for {task} data ({data_name}); got {metric!r}"
        )
