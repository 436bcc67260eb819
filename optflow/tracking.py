"""MLflow side of a study: the study (parent) run, one child run per trial, metrics, artifacts, statuses.

These functions take plain data (ids, dicts, `EpochRecord`s) and are meant to run in the tracking process
(`optflow.background`), so a trial's logging never waits on the tracking store. Run layout and names follow
DESIGN.md's contract. Runs are addressed by id through `MlflowClient`, never through MLflow's thread-local
active-run stack, so children link to their parent from any thread or process.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_RUN_NOTE

from optflow.records import EpochRecord

# MLflow's batch limits: 1000 metrics, 100 params and 100 tags per log_batch call.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100

# Optuna trial state -> MLflow run status (DESIGN.md: complete, pruned, failed).
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}

_clients: dict[str, MlflowClient] = {}

# MLflow prints a "View run at <tracking URL>" line whenever a run over HTTP ends: with a password in the URL
# that line shows it (a test caught it), with many trials it is noise, and it costs a get_run call each.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def client(tracking_uri: str) -> MlflowClient:
    """One client per tracking URI for the life of the process."""
    if tracking_uri not in _clients:
        _clients[tracking_uri] = MlflowClient(tracking_uri)
    return _clients[tracking_uri]


def warm_up() -> None:
    """Nothing: submitting it makes the cold tracking process import this module (and MLflow) early."""


@dataclass(frozen=True)
class StudyRun:
    """Where a study's runs live."""

    tracking_uri: str
    experiment_id: str
    run_id: str
    owned: bool  # True when optflow sets its final status; False under `mlflow run`, which ends it itself


@dataclass(frozen=True)
class TrialOutcome:
    """Everything logged when a trial ends."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    records: Sequence[EpochRecord]
    final_metrics: Mapping[str, float]
    config_yaml: str
    started_ms: int
    run_status: str | None = None  # overrides the status implied by `state` (KILLED for an interrupted trial)
    fail_reason: str = ""
    study_best: float | None = None  # the study's best value after this trial, logged on the study run
    model: bytes | None = None  # torch.save'd module to log with mlflow.pytorch.log_model
    input_example: Any = None
    tags: Mapping[str, str] = field(default_factory=dict)
    title: str = ""  # of the loss-curve figure; default "trial N"
    optuna_artifact: tuple[str, str] | None = None  # (artifact directory, reserved id) for the loss-curve PNG


def dataset_input(name: str, features: Any, targets: Any, source: str, context: str = "training") -> Any:
    """The data set as an MLflow run input (name, digest, schema, profile); built once, logged on every run.

    `source` is a file path (a CSV) or a description of the code that made the data (bundled, synthetic).
    """
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.numpy_dataset import from_numpy
    from mlflow.entities import DatasetInput, InputTag

    origin = source if os.path.isfile(source) else CodeDatasetSource(tags={"loader": source})
    dataset = from_numpy(features, targets=targets, name=name, source=origin)
    return DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", context)])


def _log_dataset(mlflow: MlflowClient, run_id: str, dataset: Any) -> None:
    if dataset is not None:
        mlflow.log_inputs(run_id, datasets=[dataset])


def _batched(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def open_study_run(
    tracking_uri: str,
    *,
    study_name: str,
    experiment_name: str,
    existing_run_id: str | None,
    launcher_run_id: str | None,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    note: str,
    dataset: Any = None,
) -> StudyRun:
    """The study's parent run: the one recorded in the study (resume), the one `mlflow run` made, or a new one.

    A run reopened on resume is set RUNNING again until this session ends it.
    """
    mlflow = client(tracking_uri)
    if existing_run_id:
        run = mlflow.get_run(existing_run_id)
        owned = run.info.run_id != launcher_run_id
        if owned:
            mlflow.update_run(run.info.run_id, status="RUNNING")
        if launcher_run_id and launcher_run_id != run.info.run_id:
            # `mlflow run` made a fresh run for this resumed session: point it at the study's run.
            mlflow.set_tag(launcher_run_id, "optflow.study_run_id", run.info.run_id)
        return StudyRun(tracking_uri, run.info.experiment_id, run.info.run_id, owned)

    if launcher_run_id:
        run = mlflow.get_run(launcher_run_id)
        experiment_id, run_id, owned = run.info.experiment_id, run.info.run_id, False
        mlflow.set_tag(run_id, MLFLOW_RUN_NAME, study_name)
    else:
        experiment = mlflow.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else mlflow.create_experiment(experiment_name)
        run = mlflow.create_run(experiment_id, run_name=study_name)
        run_id, owned = run.info.run_id, True
    all_tags = [RunTag(k, v) for k, v in {**tags, MLFLOW_RUN_NOTE: note}.items()]
    mlflow.log_batch(run_id, tags=all_tags)
    for chunk in _batched([Param(k, v) for k, v in params.items()], MAX_PARAMS_PER_BATCH):
        mlflow.log_batch(run_id, params=chunk)
    _log_dataset(mlflow, run_id, dataset)
    return StudyRun(tracking_uri, experiment_id, run_id, owned)


def start_trial_run(
    study_run: StudyRun,
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    parent: bool = True,
    dataset: Any = None,
) -> str:
    """A child run of the study run with the trial's params; returns its run id."""
    mlflow = client(study_run.tracking_uri)
    tags = {**tags, MLFLOW_PARENT_RUN_ID: study_run.run_id} if parent else dict(tags)
    run = mlflow.create_run(study_run.experiment_id, run_name=run_name, tags=tags)
    for chunk in _batched([Param(k, v) for k, v in params.items()], MAX_PARAMS_PER_BATCH):
        mlflow.log_batch(run.info.run_id, params=chunk)
    _log_dataset(mlflow, run.info.run_id, dataset)
    return run.info.run_id


def create_run(
    tracking_uri: str,
    experiment_name: str,
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    dataset: Any = None,
) -> str:
    """A stand-alone run (`optflow train` outside `mlflow run`); returns its id."""
    mlflow = client(tracking_uri)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    experiment_id = experiment.experiment_id if experiment else mlflow.create_experiment(experiment_name)
    study_run = StudyRun(tracking_uri, experiment_id, "", owned=True)
    return start_trial_run(study_run, run_name, params, tags, parent=False, dataset=dataset)


def log_params(
    tracking_uri: str, run_id: str, params: Mapping[str, str], tags: Mapping[str, str], dataset: Any = None
) -> str:
    """Params, tags and data set into an existing run (the one `mlflow run` made); returns the run id."""
    mlflow = client(tracking_uri)
    _log_dataset(mlflow, run_id, dataset)
    for chunk in _batched([Param(k, v) for k, v in params.items()], MAX_PARAMS_PER_BATCH):
        mlflow.log_batch(run_id, params=chunk)
    mlflow.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    return run_id


def finish_trial_run(study_run: StudyRun, run_id: str, outcome: TrialOutcome) -> None:
    """Metric histories, loss curve, resolved config, model, final tags and status of a trial run."""
    finish_run(study_run.tracking_uri, run_id, outcome)
    if outcome.study_best is not None:
        client(study_run.tracking_uri).log_metric(
            study_run.run_id, "best_value", outcome.study_best, step=outcome.number
        )


def finish_run(tracking_uri: str, run_id: str, outcome: TrialOutcome, terminate: bool = True) -> None:
    """Everything a finished training run logs; `terminate=False` leaves the status to `mlflow run`."""
    from optflow.plots import figure_png, loss_curve

    mlflow = client(tracking_uri)
    metrics = [
        Metric(name, value, outcome.started_ms + int(record.seconds * 1000), record.epoch)
        for record in outcome.records
        for name, value in record.metrics().items()
    ]
    now = int(time.time() * 1000)
    metrics += [Metric(name, float(value), now, 0) for name, value in outcome.final_metrics.items()]
    tags = {"optuna.trial_state": outcome.state, **outcome.tags}
    if outcome.fail_reason:
        tags["optflow.fail_reason"] = outcome.fail_reason[:4000]
    for i, chunk in enumerate(_batched(metrics, MAX_METRICS_PER_BATCH) or [[]]):
        mlflow.log_batch(run_id, metrics=chunk, tags=[RunTag(k, v) for k, v in tags.items()] if i == 0 else [])

    with tempfile.TemporaryDirectory() as tmp:  # one upload: the resolved config and the loss curve
        Path(tmp, "config.yaml").write_text(outcome.config_yaml)
        if outcome.records:
            png = figure_png(loss_curve(outcome.records, outcome.title or f"trial {outcome.number}"))
            Path(tmp, "loss_curve.png").write_bytes(png)
            if outcome.optuna_artifact is not None:  # one drawing serves MLflow and optuna-dashboard
                from optflow.dashboard import write_artifact

                write_artifact(*outcome.optuna_artifact, png)
        mlflow.log_artifacts(run_id, tmp)
    if outcome.model is not None:
        log_model(tracking_uri, run_id, outcome.model, outcome.input_example)
    if terminate:
        mlflow.set_terminated(run_id, outcome.run_status or RUN_STATUS[outcome.state])


def log_model(
    tracking_uri: str, run_id: str, model_bytes: bytes, input_example: Any, registered_name: str = ""
) -> None:
    """`mlflow.pytorch.log_model` into an existing run, with a signature inferred from the input example;
    registered in the Model Registry under `registered_name` when one is given."""
    import mlflow
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    module = torch.load(io.BytesIO(model_bytes), weights_only=False)
    module.eval()
    with torch.no_grad():
        output = module(torch.as_tensor(input_example)).numpy()
    mlflow.set_tracking_uri(tracking_uri)
    # Pickle is what loads back through pyfunc for any nn.Module; MLflow warns about it on every call.
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    with mlflow.start_run(run_id=run_id):
        mlflow.pytorch.log_model(
            module,
            name="model",
            signature=infer_signature(input_example, output),
            input_example=input_example,
            # Explicit requirements: inferring them costs seconds per call (DESIGN.md pitfalls).
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "numpy"],
            serialization_format="pickle",
            registered_model_name=registered_name or None,
        )


def log_study_artifacts(study_run: StudyRun, files: Mapping[str, bytes | str]) -> None:
    """Write summary files (path inside the run -> content) to the study run, as one upload of a tree."""
    with tempfile.TemporaryDirectory() as tmp:
        for path, content in files.items():
            local = Path(tmp, path)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content.encode() if isinstance(content, str) else content)
        client(study_run.tracking_uri).log_artifacts(study_run.run_id, tmp)


def close_study_run(study_run: StudyRun, status: str) -> None:
    """Set the study run's final status when optflow owns it (FINISHED, KILLED or FAILED)."""
    if study_run.owned:
        client(study_run.tracking_uri).set_terminated(study_run.run_id, status)


def fail_stale_run(study_run: StudyRun, trial_number: int, run_id: str | None, reason: str) -> str | None:
    """Close a dead worker's trial run as FAILED with its reason; returns the run id (None if never made).

    The run is the one linked in the trial's user attrs, or found by its trial-number tag when the worker
    died before linking it (a retried trial carries its predecessor's link, so the tag is checked).
    """
    mlflow = client(study_run.tracking_uri)
    run = mlflow.get_run(run_id) if run_id else None
    if run is None or run.data.tags.get("optuna.trial_number") != str(trial_number):
        found = mlflow.search_runs(
            [study_run.experiment_id],
            filter_string=(
                f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{study_run.run_id}' "
                f"and tags.`optuna.trial_number` = '{trial_number}'"
            ),
            max_results=1,
        )
        run = found[0] if found else None
    if run is None or run.info.status != "RUNNING":
        return None if run is None else run.info.run_id
    mlflow.log_batch(
        run.info.run_id, tags=[RunTag("optuna.trial_state", "FAIL"), RunTag("optflow.fail_reason", reason)]
    )
    mlflow.set_terminated(run.info.run_id, "FAILED")
    return run.info.run_id
