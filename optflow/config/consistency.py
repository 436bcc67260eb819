"""Checks across fields, run once every field has passed its own rule: factories that import with the right
arguments, metrics and objectives that exist, settings that contradict each other. Each error is one line naming
the field, what it accepts and what it got."""

from __future__ import annotations

from optflow.config.objectives import TRIAL_MEASURES, parse_goal
from optflow.config.references import describe_local, is_local, resolve
from optflow.config.rules import KNOWN_METRICS
from optflow.config.schema import Config
from optflow.config.search import check_search
from optflow.config.sections import metric_name
from optflow.contract import METRICS_MAXIMIZED
from optflow.errors import UsageError

# What each factory is called with (the names say so in messages).
LOSS_ARGUMENTS = METRIC_ARGUMENTS = ("output", "target")
MODEL_FACTORY_ARGUMENTS = ("params", "spec")
DATA_FACTORY_ARGUMENTS = ("params",)
OBJECTIVE_ARGUMENTS = ("params", "reporter")


def check_factories(config: Config) -> None:
    """Params only with a factory, and factories that import and take the right arguments (what they return is
    checked once the data is loaded, still before anything is made). A param may share its name with a field or
    another factory's param: only searched names must be unique (`names.py`)."""
    functions = (("model", "factory", MODEL_FACTORY_ARGUMENTS), ("data", "factory", DATA_FACTORY_ARGUMENTS))
    for section, key, arguments in (*functions, ("objective", "function", OBJECTIVE_ARGUMENTS)):
        values = getattr(config, section)
        function = getattr(values, key)
        if values.params and not function:
            raise UsageError(f"{section}.params needs {section}.{key} (the function they are passed to); got ''")
        if function:
            resolve(f"{section}.{key}", function, arguments)
    _check_criteria(config)


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


def check_consistency(config: Config) -> None:
    """Fields that must agree with each other, then the search section against the config."""
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
    names = [goal.name for goal in study.goals]
    for field, values in (("objectives", names[1:]), ("constraints", [c.name for c in study.constraint_list])):
        for name in values:
            if (name not in allowed and not config.own_loop) or (config.own_loop and name == "n_params"):
                what = ", ".join(sorted(allowed)) + (" or your loop's metrics" if config.own_loop else "")
                raise UsageError(f"study.{field} must name {what}; got {name!r}")
    if len(set(names)) < len(names):
        raise UsageError(f"study.objectives must differ from each other and from study.metric; got {names}")
    for entry in study.objectives:
        goal = parse_goal(entry)
        if goal.direction == "auto" and goal.name not in (*KNOWN_METRICS, *TRIAL_MEASURES):
            raise UsageError(
                f"study.objectives must give {goal.name!r} a direction ({goal.name}:minimize or "
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
