"""optflow: hyperparameter search for PyTorch models as an MLflow workflow, driven by Optuna.

The Python API is the command line's (`optflow tune`, `optflow train`) without argv:

    import optflow
    result = optflow.tune("configs/digits.yaml", overrides={"study.n_trials": 10})
    print(result.best_value, result.best_params, result.study_run_id)

Heavy modules (torch, Optuna, MLflow) load on first use, so `import optflow` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optflow.config import Config, apply_overrides, build_config, load_config

if TYPE_CHECKING:
    from optflow.records import EpochRecord
    from optflow.study.options import ProgressReporter
    from optflow.study.result import StudyResult
    from optflow.study.single_run import TrainResult

__version__ = "0.1.0"
__all__ = ["Config", "DataSpec", "DataSplits", "StudyResult", "TrainResult", "load_config", "train", "tune"]

ConfigLike = Config | Mapping[str, Any] | str | Path


def _as_config(
    config: ConfigLike,
    overrides: Mapping[str, Any] | None,
    model: Callable[..., Any] | None = None,
    data: Callable[..., Any] | None = None,
    workers: int = 1,
    loss: Callable[..., Any] | None = None,
    metrics: Sequence[Callable[..., Any]] = (),
    objective: Callable[..., Any] | None = None,
) -> Config:
    functions = _functions(
        workers,
        {"model.factory": model, "data.factory": data, "training.loss": loss, "objective.function": objective},
    )
    overrides = {**(overrides or {}), **functions}
    if metrics:
        overrides["study.metrics"] = [_functions(workers, {"study.metrics": m})["study.metrics"] for m in metrics]
    if isinstance(config, Config):
        if not overrides:
            return config
        config = config.to_dict()
    if isinstance(config, Mapping):
        return build_config(apply_overrides(config, overrides))
    return load_config(config, overrides)


def _functions(workers: int, functions: Mapping[str, Callable[..., Any] | None]) -> dict[str, str]:
    """{"model.factory": build} -> {"model.factory": "my_pkg.models:build"}: a function passed from Python
    becomes the reference a config would hold; one that only this process can call refuses several workers in
    one line."""
    from optflow.config.references import describe_local, is_local, reference_of
    from optflow.errors import UsageError

    out = {}
    for field, function in functions.items():
        if function is None:
            continue
        argument = _ARGUMENT[field]
        if not callable(function):
            raise UsageError(f"{argument} must be a function; got a {type(function).__name__}")
        reference = reference_of(function)
        if is_local(reference) and workers > 1:
            raise UsageError(
                f"{argument} must be importable by name when workers > 1 (a function at the top level of a module, "
                f"not a lambda, a local function or one defined in __main__); got {describe_local(reference)}"
            )
        out[field] = reference
    return out


_ARGUMENT = {
    "model.factory": "model",
    "data.factory": "data",
    "training.loss": "loss",
    "study.metrics": "metrics",
    "objective.function": "objective",
}


def tune(
    config: ConfigLike,
    *,
    overrides: Mapping[str, Any] | None = None,
    model: Callable[..., Any] | None = None,
    data: Callable[..., Any] | None = None,
    loss: Callable[..., Any] | None = None,
    metrics: Sequence[Callable[..., Any]] = (),
    objective: Callable[..., Any] | None = None,
    workers: int = 1,
    tracking: bool = True,
    tracking_uri: str | None = None,
    reporter: ProgressReporter | None = None,
) -> StudyResult:
    """Run (or resume, or join) the study the config describes; returns its result.

    `config` is a `Config`, a mapping shaped like the YAML file, or a path to one; `overrides` sets dotted
    fields (`{"study.n_trials": 10}`). `model` and `data` are the factories a config names by import path
    (`build(params, spec) -> nn.Module`, `load(params) -> DataSplits`), passed as functions, and so are `loss`
    (`training.loss`), `metrics` (`study.metrics`) and `objective` (your own training loop, `run(params,
    reporter)`: `objective.function`); with `workers > 1` they must be importable by name.
    Runs silently unless given a `reporter` (see `optflow.study.options`). Bad input raises
    `optflow.errors.UsageError` before anything is created.
    """
    from optflow.study.options import RunOptions, SilentReporter
    from optflow.study.study import run_study
    from optflow.study.workers import run_workers

    config = _as_config(config, overrides, model, data, workers, loss, metrics, objective)
    options = RunOptions(
        tracking=tracking, tracking_uri=tracking_uri, workers=workers, reporter=reporter or SilentReporter()
    )
    return run_workers(config, options) if workers > 1 else run_study(config, options)


def train(
    config: ConfigLike,
    *,
    overrides: Mapping[str, Any] | None = None,
    model: Callable[..., Any] | None = None,
    data: Callable[..., Any] | None = None,
    loss: Callable[..., Any] | None = None,
    metrics: Sequence[Callable[..., Any]] = (),
    objective: Callable[..., Any] | None = None,
    tracking: bool = True,
    tracking_uri: str | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """One training run with the config's fixed params (its `search` is ignored), logged as one MLflow run;
    `model`, `data`, `loss`, `metrics` and `objective` as for `tune`."""
    from optflow.study.options import RunOptions
    from optflow.study.single_run import run_training

    options = RunOptions(tracking=tracking, tracking_uri=tracking_uri)
    return run_training(_as_config(config, overrides, model, data, 1, loss, metrics, objective), options, on_epoch)


def __getattr__(name: str) -> Any:
    """`optflow.StudyResult`, `optflow.TrainResult`, `optflow.DataSplits` and `optflow.DataSpec`, imported when
    first asked for."""
    if name in ("DataSplits", "DataSpec"):
        import optflow.data

        return getattr(optflow.data, name)
    if name == "StudyResult":
        from optflow.study.result import StudyResult

        return StudyResult
    if name == "TrainResult":
        from optflow.study.single_run import TrainResult

        return TrainResult
    raise AttributeError(f"module 'optflow' has no attribute {name!r}")
