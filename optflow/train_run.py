"""One training run with fixed params (`optflow train`), logged as a single MLflow run."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import yaml

from optflow import tracking
from optflow.background import Background
from optflow.config import Config, resolve_direction, resolved_config, run_params
from optflow.data import load_dataset
from optflow.objective import INPUT_EXAMPLE_ROWS, serialize_model
from optflow.records import EpochRecord, best_value, final_metrics
from optflow.training import TrainingDiverged, fit, new_model


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `optflow train`."""

    records: list[EpochRecord]
    value: float
    run_id: str | None
    fail_reason: str = ""


def run_training(
    config: Config, *, tracking_uri: str | None = None, tracking_enabled: bool = True, progress=None
) -> TrainResult:
    """Train once on the config's training section; logs params, epochs, curve, config and model."""
    data = load_dataset(config.data)
    maximize = resolve_direction(config.study) == "maximize"
    background = Background(inline=True) if tracking_enabled else None
    run_id = None
    if background is not None:
        import mlflow

        tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        params = run_params(config.model, config.training)
        tags = {"optflow.kind": "train", "optflow.data": config.data.name}
        dataset = tracking.dataset_input(data.name, data.x_train.numpy(), data.y_train.numpy(), data.source)
        launcher = os.environ.get("MLFLOW_RUN_ID")
        if launcher:
            run_id = background.submit(tracking.log_params, tracking_uri, launcher, params, tags, dataset).result()
        else:
            experiment = config.study.experiment or f"{config.study.name}-train"
            run_id = background.submit(
                tracking.create_run, tracking_uri, experiment, "train", params, tags, dataset
            ).result()
    started_ms = int(time.time() * 1000)
    model = new_model(config.model, config.training, data)
    records: list[EpochRecord] = []
    state, reason, run_status = "FAIL", "", None
    try:
        for record in fit(model, data, config.training, config.study.metric, maximize):
            records.append(record)
            if progress is not None:
                progress(record)
        state = "COMPLETE"
    except TrainingDiverged as error:
        reason = f"diverged: {error}"
    except KeyboardInterrupt:
        reason, run_status = "interrupted (Ctrl-C or SIGTERM)", "KILLED"
        raise
    finally:
        if background is not None:
            log_model = state == "COMPLETE" and config.study.log_models != "none"
            outcome = tracking.TrialOutcome(
                number=0,
                state=state,
                run_status=run_status,
                records=records,
                final_metrics=final_metrics(records, state == "COMPLETE"),
                config_yaml=yaml.safe_dump(resolved_config(config, config.model, config.training), sort_keys=False),
                started_ms=started_ms,
                fail_reason=reason,
                model=serialize_model(model) if log_model else None,
                input_example=data.x_val[:INPUT_EXAMPLE_ROWS].cpu().numpy(),
                title=f"optflow train: {config.data.name}",
            )
            terminate = not os.environ.get("MLFLOW_RUN_ID")
            background.submit(tracking.finish_run, tracking_uri, run_id, outcome, terminate)
            background.close()
    value = best_value(records, config.study.metric, maximize) if state == "COMPLETE" else math.nan
    return TrainResult(records, value, run_id, reason)
