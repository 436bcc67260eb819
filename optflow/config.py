"""Typed, validated configuration: YAML + overrides -> frozen dataclasses, every error naming its field.

Validation follows scikit-learn's `_parameter_constraints`: each field has one rule in a table, and every
message has one shape, ``training.lr must be a float in (0, inf); got -1``. Names that come from registries
(optimizers, schedules, samplers, data sets) are looked up lazily so that importing this module pulls in
neither torch nor optuna.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from optflow.errors import UsageError

# --------------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """What a field accepts: a description for messages and a function that converts or returns None."""

    describe: Callable[[], str]
    convert: Callable[[Any], Any]  # returns the converted value, or raises ValueError/TypeError

    def check(self, where: str, value: Any) -> Any:
        try:
            return self.convert(value)
        except (TypeError, ValueError):
            raise UsageError(f"{where} must be {self.describe()}; got {value!r}") from None


def _interval(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def number(kind: type, low: float | None = None, high: float | None = None, closed: str = "both") -> Rule:
    """A float or int within an interval (`closed` is one of both, left, right, neither)."""

    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            value = int(value)
        else:
            value = float(value)
        if not math.isfinite(value):
            raise ValueError
        if low is not None and (value < low or (value == low and closed in ("right", "neither"))):
            raise ValueError
        if high is not None and (value > high or (value == high and closed in ("left", "neither"))):
            raise ValueError
        return value

    name = "an int" if kind is int else "a float"
    return Rule(lambda: f"{name} in {_interval(low, high, closed)}", convert)


def one_of(names: Callable[[], Iterable[str]]) -> Rule:
    """One of the names a registry knows (looked up when first needed)."""

    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in set(names()):
            raise ValueError
        return value

    return Rule(lambda: "one of " + ", ".join(sorted(names())), convert)


def text(allow_empty: bool = False) -> Rule:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise ValueError
        return value

    return Rule(lambda: "a non-empty string" if not allow_empty else "a string", convert)


def optional(rule: Rule) -> Rule:
    return Rule(lambda: f"{rule.describe()} or null", lambda v: None if v is None else rule.convert(v))


def _batch_size(value: Any) -> int | str:
    if value == "full":
        return "full"
    return number(int, 1).convert(value)


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        raise TypeError
    return tuple(number(int, 1).convert(v) for v in value)


def _names(module: str, attr: str) -> Callable[[], Iterable[str]]:
    def load() -> Iterable[str]:
        import importlib

        return getattr(importlib.import_module(module), attr).keys()

    return load


def _constant(*names: str) -> Callable[[], Iterable[str]]:
    return lambda: names


# ------------------------------------------------------------------------------------------------ sections


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
    """Validation metric the study optimises: val_loss, val_accuracy or val_rmse."""
    direction: str = "auto"
    """minimize, maximize, or auto (maximize for accuracy, minimize otherwise)."""
    storage: str = "sqlite:///optuna.db"
    """Optuna RDB storage URL. Prefer the OPTFLOW_STORAGE environment variable for URLs with passwords."""
    pruner: str = "none"
    """Early termination of unpromising trials: none or median."""
    seed: int = 0
    """Sampler seed: the same seed and config give the same trials."""
    experiment: str = ""
    """MLflow experiment name; empty means the study name (under `mlflow run`, the run's experiment)."""
    log_models: str = "best"
    """Which trained models go to MLflow: none, best or all."""
    register_model: str = ""
    """Register the study's best model in the MLflow Model Registry under this name; empty: do not."""
    artifact_dir: str = ""
    """Optuna artifact store (trial loss curves for optuna-dashboard); empty: beside an SQLite storage file, else
    ./optuna_artifacts. Workers on several machines should share one directory (a network mount)."""


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
    val_fraction: float = 0.2
    """Share of rows held out for validation (stratified for classification)."""
    seed: int = 0
    """Seed of the split and of synthetic data."""


@dataclass(frozen=True)
class ModelConfig:
    """The network: a linear (logistic) model or an MLP."""

    kind: str = "mlp"
    """linear or mlp."""
    hidden: tuple[int, ...] = (128,)
    """Hidden layer sizes of the MLP."""
    activation: str = "relu"
    """relu, tanh, gelu or sigmoid."""


@dataclass(frozen=True)
class TrainingConfig:
    """The optimisation technique; every field can be searched."""

    epochs: int = 30
    """Passes over the training set (an upper bound with early stopping)."""
    batch_size: int | str = 64
    """Rows per optimiser step, or 'full' for full-batch gradient descent (one step per epoch)."""
    optimizer: str = "sgd"
    """gd (full-batch gradient descent), sgd, momentum or adam."""
    lr: float = 0.05
    """Initial learning rate."""
    momentum: float = 0.9
    """Momentum coefficient of the momentum optimiser."""
    schedule: str = "constant"
    """Learning-rate schedule: constant, exponential, step, inverse_time or cosine."""
    gamma: float = 0.95
    """Decay factor of the exponential (lr·γ^t) and step (lr·γ^floor(t/step_size)) schedules."""
    step_size: int = 10
    """Epochs between decays of the step schedule."""
    decay_rate: float = 0.1
    """k of the inverse-time schedule lr/(1+k·t)."""
    min_lr: float = 0.0
    """Floor of the cosine schedule."""
    l1: float = 0.0
    """L1 penalty λ1·Σ|w| added to the loss (weights, not biases)."""
    l2: float = 0.0
    """L2 penalty (λ2/2)·Σw² on weights, applied as the optimiser's weight decay."""
    dropout: float = 0.0
    """Dropout probability after each hidden layer."""
    early_stopping_patience: int = 0
    """Stop after this many epochs without improvement of the monitored metric; 0 turns it off."""
    min_delta: float = 0.0
    """Smallest change of the monitored metric that counts as an improvement."""
    seed: int = 0
    """Seed of initialisation, shuffling and dropout."""
    device: str = "cpu"
    """auto, cpu or cuda."""
    threads: int = 1
    """torch intra-op threads per worker; 1 is fastest for small models and leaves cores to other workers."""


@dataclass(frozen=True)
class SearchParam:
    """One searched field: an Optuna distribution plus the grid points the grid sampler uses."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    grid: tuple[Any, ...] = ()
    n_points: int = 3
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    """Condition: sample only when each named field has one of the listed values (else keep the fixed one)."""


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration."""

    study: StudyConfig = field(default_factory=StudyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    search: tuple[SearchParam, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-ready) of the resolved configuration."""
        out: dict[str, Any] = {}
        for section in ("study", "data", "model", "training"):
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        out["search"] = {p.name: _search_param_dict(p) for p in self.search}
        return out


def _search_param_dict(param: SearchParam) -> dict[str, Any]:
    out: dict[str, Any] = {"type": param.type}
    if param.type == "categorical":
        out["choices"] = list(param.choices)
    else:
        out.update(low=param.low, high=param.high, log=param.log)
        if param.step is not None:
            out["step"] = param.step
        out["n_points"] = param.n_points
    if param.grid:
        out["grid"] = list(param.grid)
    if param.when:
        out["when"] = {name: list(values) for name, values in param.when}
    return out


METRICS_MINIMIZED = ("val_loss", "val_rmse")
METRICS_MAXIMIZED = ("val_accuracy",)

RULES: dict[str, dict[str, Rule]] = {
    "study": {
        "name": text(),
        "sampler": one_of(_names("optflow.samplers", "SAMPLERS")),
        "n_trials": number(int, 1),
        "metric": one_of(_constant(*METRICS_MINIMIZED, *METRICS_MAXIMIZED)),
        "direction": one_of(_constant("auto", "minimize", "maximize")),
        "storage": text(),
        "pruner": one_of(_names("optflow.samplers", "PRUNERS")),
        "seed": number(int, 0),
        "experiment": text(allow_empty=True),
        "log_models": one_of(_constant("none", "best", "all")),
        "register_model": text(allow_empty=True),
        "artifact_dir": text(allow_empty=True),
    },
    "data": {
        "name": one_of(_names("optflow.data", "DATASETS")),
        "path": text(allow_empty=True),
        "target": text(allow_empty=True),
        "task": one_of(_constant("auto", "classification", "regression")),
        "n_samples": number(int, 10),
        "n_features": number(int, 1),
        "n_classes": number(int, 2),
        "noise": number(float, 0),
        "val_fraction": number(float, 0, 1, "neither"),
        "seed": number(int, 0),
    },
    "model": {
        "kind": one_of(_constant("linear", "mlp")),
        "hidden": Rule(lambda: "a list of ints in [1, inf)", _hidden_sizes),
        "activation": one_of(_names("optflow.models", "ACTIVATIONS")),
    },
    "training": {
        "epochs": number(int, 1),
        "batch_size": Rule(lambda: "an int in [1, inf) or 'full'", _batch_size),
        "optimizer": one_of(_names("optflow.optim", "OPTIMIZERS")),
        "lr": number(float, 0, None, "neither"),
        "momentum": number(float, 0, 1, "left"),
        "schedule": one_of(_names("optflow.optim", "SCHEDULES")),
        "gamma": number(float, 0, 1, "right"),
        "step_size": number(int, 1),
        "decay_rate": number(float, 0),
        "min_lr": number(float, 0),
        "l1": number(float, 0),
        "l2": number(float, 0),
        "dropout": number(float, 0, 1, "left"),
        "early_stopping_patience": number(int, 0),
        "min_delta": number(float, 0),
        "seed": number(int, 0),
        "device": one_of(_constant("auto", "cpu", "cuda")),
        "threads": number(int, 1),
    },
}
SECTIONS: dict[str, type] = {
    "study": StudyConfig,
    "data": DataConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
}
# Fields a search may vary: every training field and the scalar model fields.
SEARCHABLE: dict[str, str] = {
    **{name: "training" for name in RULES["training"]},
    "kind": "model",
    "activation": "model",
}
SEARCH_TYPES = ("float", "int", "categorical")


# ------------------------------------------------------------------------------------------------ building


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


def _build_search_param(name: str, raw: Any) -> SearchParam:
    where = f"search.{name}"
    if name not in SEARCHABLE:
        raise UsageError(f"{where} is not a searchable field; searchable: {', '.join(sorted(SEARCHABLE))}")
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where} must be a mapping with a type; got {raw!r}")
    allowed = {f.name for f in fields(SearchParam)} - {"name"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UsageError(f"{where}.{unknown[0]} is not a known key; known keys: {', '.join(sorted(allowed))}")
    kind = one_of(_constant(*SEARCH_TYPES)).check(f"{where}.type", raw.get("type"))
    field_rule = RULES[SEARCHABLE[name]][name]
    grid = tuple(field_rule.check(f"{where}.grid", v) for v in _as_list(raw.get("grid", []), f"{where}.grid"))
    n_points = number(int, 2).check(f"{where}.n_points", raw.get("n_points", 3))
    when = _build_condition(where, raw.get("when"))

    if kind == "categorical":
        choices = _as_list(raw.get("choices"), f"{where}.choices")
        if not choices:
            raise UsageError(f"{where}.choices must be a non-empty list; got {raw.get('choices')!r}")
        choices = [field_rule.check(f"{where}.choices", c) for c in choices]
        return SearchParam(name, kind, choices=tuple(choices), grid=grid, when=when)

    number_kind = float if kind == "float" else int
    low = number(number_kind).check(f"{where}.low", raw.get("low"))
    high = number(number_kind).check(f"{where}.high", raw.get("high"))
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(f"{where}.log must be true or false; got {log!r}")
    if low >= high:
        raise UsageError(f"{where}.low must be < {where}.high; got low={low:g}, high={high:g}")
    if log and low <= 0:
        raise UsageError(f"{where}.low must be > 0 when log is true; got {low:g}")
    step = raw.get("step")
    if step is not None:
        step = number(number_kind, 0, None, "neither").check(f"{where}.step", step)
        if log:
            raise UsageError(f"{where}.step must be null when log is true; got {step!r}")
    field_rule.check(f"{where}.low", low)
    field_rule.check(f"{where}.high", high)
    for point in grid:
        if not low <= point <= high:
            raise UsageError(f"{where}.grid values must lie in [{low:g}, {high:g}]; got {point!r}")
    return SearchParam(name, kind, low, high, log, step, grid=grid, n_points=n_points, when=when)


def _build_condition(where: str, raw: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}.when must map field names to lists of values; got {raw!r}")
    condition = []
    for name, values in raw.items():
        if name not in SEARCHABLE:
            raise UsageError(
                f"{where}.when.{name} is not a searchable field; searchable: {', '.join(sorted(SEARCHABLE))}"
            )
        values = values if isinstance(values, list | tuple) else [values]
        rule = RULES[SEARCHABLE[name]][name]
        condition.append((name, tuple(rule.check(f"{where}.when.{name}", v) for v in values)))
    return tuple(condition)


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise UsageError(f"{where} must be a list; got {value!r}")
    return list(value)


def build_config(raw: Mapping[str, Any]) -> Config:
    """Validate a raw nested mapping (as read from YAML) into a `Config`."""
    if not isinstance(raw, Mapping):
        raise UsageError(f"the config must be a mapping of sections; got {type(raw).__name__}")
    known = (*SECTIONS, "search")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UsageError(f"{unknown[0]} is not a known config section; known sections: {', '.join(known)}")
    data_raw = dict(raw.get("data") or {})
    if "csv" in data_raw:  # shorthand from DESIGN.md: {csv: path.csv, target: y}
        data_raw.setdefault("name", "csv")
        data_raw["path"] = data_raw.pop("csv")
    base = Config(
        study=_build_section("study", raw.get("study")),
        data=_build_section("data", data_raw),
        model=_build_section("model", raw.get("model")),
        training=_build_section("training", raw.get("training")),
    )
    search_raw = raw.get("search") or {}
    if not isinstance(search_raw, Mapping):
        raise UsageError(f"search must be a mapping of field names to ranges; got {search_raw!r}")
    search = tuple(_build_search_param(str(name), spec) for name, spec in search_raw.items())
    config = replace(base, search=search)
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    data = config.data
    if data.name == "csv" and not data.path:
        raise UsageError("data.path must name a CSV file when data.name is csv; got ''")
    if data.name == "csv" and not data.target:
        raise UsageError("data.target must name the CSV's target column when data.name is csv; got ''")
    study = config.study
    if study.register_model and study.log_models != "best":
        raise UsageError(f"study.log_models must be best when study.register_model is set; got {study.log_models!r}")
    if study.metric == "val_accuracy" and study.direction == "minimize":
        raise UsageError("study.direction must be maximize or auto for metric val_accuracy; got 'minimize'")


def resolve_direction(study: StudyConfig) -> str:
    """The optimisation direction: explicit, or implied by the metric."""
    if study.direction != "auto":
        return study.direction
    return "maximize" if study.metric in METRICS_MAXIMIZED else "minimize"


def parse_override(assignment: str) -> tuple[str, Any]:
    """`training.lr=0.1` -> ("training.lr", 0.1), the value read as YAML (so numbers and lists work)."""
    key, sep, value = assignment.partition("=")
    if not sep or "." not in key:
        raise UsageError(f"--set must look like section.field=value; got {assignment!r}")
    try:
        return key.strip(), yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        raise UsageError(f"--set {key} has a value that is not valid YAML; got {value!r}") from None


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `raw` with dotted keys (`training.lr`, `search.lr.high`) set."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(raw))) or {}
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UsageError(f"{dotted} cannot be set: {part} is not a section")
            node = child
        node[leaf] = value
    return out


def load_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a YAML config (or start from defaults), apply overrides, validate."""
    raw: Any = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"--config must be an existing YAML file; got {str(path)!r}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            first = str(error).splitlines()[0]
            raise UsageError(f"--config {path} is not valid YAML: {first}") from None
    return build_config(apply_overrides(raw, overrides or {}))


def training_params(config: Config, sampled: Mapping[str, Any]) -> tuple[ModelConfig, TrainingConfig]:
    """The model and training configs of one trial: the fixed config with the sampled fields replaced."""
    model_updates = {k: v for k, v in sampled.items() if SEARCHABLE[k] == "model"}
    training_updates = {k: v for k, v in sampled.items() if SEARCHABLE[k] == "training"}
    return replace(config.model, **model_updates), replace(config.training, **training_updates)


def flat_params(section: str, values: Any) -> dict[str, str]:
    """Dotted `section.field` -> string, as MLflow params want them."""
    out = {}
    for f in fields(values):
        value = getattr(values, f.name)
        out[f"{section}.{f.name}"] = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return out


def run_params(model: ModelConfig, training: TrainingConfig) -> dict[str, str]:
    """A training run's MLflow params under the searchable names (`lr`, `optimizer`, ...), so they line up
    with Optuna's param names when runs are compared side by side."""
    params = {k.split(".", 1)[1]: v for k, v in flat_params("training", training).items()}
    params.update({k.split(".", 1)[1]: v for k, v in flat_params("model", model).items()})
    return params


def resolved_config(config: Config, model: ModelConfig, training: TrainingConfig) -> dict[str, Any]:
    """The config one training run really used (YAML-ready, password masked): replay it with `optflow train`."""
    from optflow.urls import mask_password

    resolved = replace(config, model=model, training=training, search=()).to_dict()
    resolved["study"]["storage"] = mask_password(resolved["study"]["storage"])
    return resolved
