"""optflow: hyperparameter search for PyTorch models as an MLflow workflow, driven by Optuna.

The Python API is the command line's (`optflow tune`, `optflow train`) without argv:

    import optflow
    result = optflow.tune("configs/digits.yaml", overrides={"study.n_trials": 10})
    print(result.best_value, result.best_params, result.study_run_id)

Heavy modules (torch, Optuna, MLflow) load on first use, so `import optflow` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optflow.config import Config, apply_overrides, build_config, load_config

if TYPE_CHECKING:
    from optflow.records import EpochRecord
    from optflow.study.options import Reporter
    from optflow.study.result import StudyResult
    from optflow.study.single_run import TrainResult

__version__ = "0.1.0"
__all__ = ["Config", "StudyResult", "TrainResult", "load_config", "train", "tune"]

ConfigLike = Config | Mapping[str, Any] | str | Path


def _as_config(config: ConfigLike, overrides: Mapping[str, Any] | None) -> Config:
    if isinstance(config, Config):
        if not overrides:
            return config
        config = config.to_dict()
    if isinstance(config, Mapping):
        return build_config(apply_overrides(config, overrides or {}))
    return load_config(config, overrides)


def tune(
    config: ConfigLike,
    *,
    overrides: Mapping[str, Any] | None = None,
    workers: int = 1,
    tracking: bool = True,
    tracking_uri: str | None = None,
    reporter: Reporter | None = None,
) -> StudyResult:
    """Run (or resume, or join) the study the config describes; returns its result.

    `config` is a `Config`, a mapping shaped like the YAML file, or a path to one; `overrides` sets dotted
    fields (`{"study.n_trials": 10}`). Runs silently unless given a `reporter` (see `optflow.study.options`).
    Bad input raises `optflow.errors.UsageError` before anything is created.
    """
    from optflow.study.options import RunOptions, SilentReporter
    from optflow.study.study import run_study
    from optflow.study.workers import run_workers

    config = _as_config(config, overrides)
    options = RunOptions(
        tracking=tracking, tracking_uri=tracking_uri, workers=workers, reporter=reporter or SilentReporter()
    )
    return run_workers(config, options) if workers > 1 else run_study(config, options)


def train(
    config: ConfigLike,
    *,
    overrides: Mapping[str, Any] | None = None,
    tracking: bool = True,
    tracking_uri: str | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """One training run with the config's fixed params (its `search` is ignored), logged as one MLflow run."""
    from optflow.study.options import RunOptions
    from optflow.study.single_run import run_training

    options = RunOptions(tracking=tracking, tracking_uri=tracking_uri)
    return run_training(_as_config(config, overrides), options, on_epoch)


def __getattr__(name: str) -> Any:
    """`optflow.StudyResult` and `optflow.TrainResult`, imported when first asked for."""
    if name == "StudyResult":
        from optflow.study.result import StudyResult

        return StudyResult
    if name == "TrainResult":
        from optflow.study.single_run import TrainResult

        return TrainResult
    raise AttributeError(f"module 'optflow' has no attribute {name!r}")
