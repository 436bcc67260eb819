"""A raw mapping (as read from YAML) -> a validated `Config`: one rule per field in `RULES`, checked once.

Every error is one line naming the field, what it accepts and what it got; checks across fields are in
`consistency.py`. Nothing else in optflow checks a config field again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from optflow.config.consistency import KNOWN_METRICS, check_consistency, check_factories
from optflow.config.objectives import parse_constraint, parse_objective
from optflow.config.references import is_reference
from optflow.config.rules import Rule, constant, number, one_of, registry, text
from optflow.config.schema import SECTIONS, Config
from optflow.config.search import build_search
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


def _metric(value: Any) -> str:
    if not isinstance(value, str) or not value.replace(".", "_").replace("/", "_").isidentifier():
        raise ValueError
    return value


# Any metric name may pass here (an own loop reports its own); `check_consistency` holds optflow's trainer to the
# metrics it reports.
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
    if "csv" in data_raw:  # shorthand (docs/guides/configuration.md): {csv: path.csv, target: y}
        data_raw.setdefault("name", "csv")
        data_raw["path"] = data_raw.pop("csv")
    base = Config(
        study=_build_section("study", raw.get("study")),
        data=_build_section("data", data_raw),
        model=_build_section("model", raw.get("model")),
        training=_build_section("training", raw.get("training")),
        objective=_build_section("objective", objective_raw),
    )
    check_factories(base)
    config = replace(base, search=build_search(raw.get("search"), RULES, base.searchable()))
    check_consistency(config)
    return config
