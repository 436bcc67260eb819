"""The MLflow calls: study (parent) run, one child run per trial, metrics, artifacts, statuses.

These functions take plain data (ids, dicts, a `TrialOutcome`) and run in the tracking process
(`background.py`), so a trial's logging never waits on the tracking store. Runs are addressed by id through
`MlflowClient`, never through MLflow's thread-local active-run stack, so children link to their parent from
any thread or process. Run layout and names follow docs/reference/contracts.md (`optflow.contract`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_RUN_NOTE

from optflow.contract import (
    INTERRUPTED_STATUS,
    RUN_STATUS,
    STUDY_BEST_VALUE,
    TAG_BATCH_SIZE_USED,
    TAG_CHANGE,
    TAG_FAIL_REASON,
    TAG_PRUNED_AT,
    TAG_RESUMED_FROM,
    TAG_SAMPLER,
    TAG_STUDY_RUN_ID,
    TAG_TRIAL_STATE,
)
from optflow.errors import UsageError
from optflow.records import EpochRecord, TrialOutcome
from optflow.urls import brief_error, mask_password

# MLflow's batch limits: 1000 metrics, 100 params and 100 tags per log_batch call.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAG_LENGTH = 4000  # of a fail reason; MLflow refuses longer tag values on some stores

_clients: dict[str, MlflowClient] = {}


def quiet_mlflow() -> None:
    """MLflow's settings for a process that logs for optflow, set before its first MLflow call (not on import).

    MLflow prints a "View run at <tracking URL>" line whenever a run over HTTP ends: with a password in the URL
    that line shows it (tests/tracking/test_mlflow_server.py), with many trials it is noise, and it costs a
    get_run call each. Its INFO lines about migrating its own database are noise too; its warnings stay.
    """
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def client(tracking_uri: str) -> MlflowClient:
    """One client per tracking URI for the life of the process."""
    if tracking_uri not in _clients:
        quiet_mlflow()
        _clients[tracking_uri] = MlflowClient(tracking_uri)
    return _clients[tracking_uri]


def warm_up() -> None:
    """Nothing: submitting it makes the cold tracking process import this module (and MLflow) early."""


@contextmanager
def _fail_fast() -> Iterator[None]:
    """MLflow's HTTP client without retries and with a short timeout, for one question asked up front."""
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    saved = {name: os.environ.get(name) for name in quick}
    os.environ.update(quick)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_sqlite_file(tracking_uri: str) -> None:
    """Raise if an SQLite tracking store cannot be created or written (a read-only directory, not a database)."""
    import sqlite3

    path = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute("BEGIN IMMEDIATE")  # takes the write lock: needs a writable database
        connection.rollback()
    finally:
        connection.close()


def check_store(tracking_uri: str, experiment_name: str | None) -> None:
    """Ask the tracking store one quick question before anything is made: a store that cannot be reached or
    opened, or an experiment of that name that is deleted, is a `UsageError` (a dead server would otherwise
    hold the first call for minutes)."""
    where = mask_password(tracking_uri)
    try:
        if tracking_uri.startswith("sqlite:///"):
            _check_sqlite_file(tracking_uri)  # MLflow retries a file it cannot open for a minute, warning each time
        quiet_mlflow()
        with _fail_fast():
            mlflow = MlflowClient(tracking_uri)
            experiment = mlflow.get_experiment_by_name(experiment_name or "Default")
    except Exception as error:  # noqa: BLE001 - an unknown scheme, a dead server, an unwritable file: all one line
        raise UsageError(
            f"the MLflow tracking store (--tracking-uri or MLFLOW_TRACKING_URI) must answer; got {where!r}: "
            f"{brief_error(error)}"
        ) from None
    if experiment_name and experiment is not None and experiment.lifecycle_stage == "deleted":
        raise UsageError(
            f"study.experiment must not be a deleted MLflow experiment (restore it with `mlflow experiments "
            f"restore --experiment-id {experiment.experiment_id}`, or choose another); got {experiment_name!r}"
        )


@dataclass(frozen=True)
class StudyRun:
    """Where a study's runs live."""

    tracking_uri: str
    experiment_id: str
    run_id: str
    owned: bool  # True when optflow sets its final status; False under `mlflow run`, which ends it itself


@dataclass(frozen=True)
class FinishedRun:
    """Everything logged when a training run ends, besides its outcome."""

    outcome: TrialOutcome
    config_yaml: str  # the resolved config, replayable with `optflow train`
    title: str  # of the loss-curve figure
    optuna_artifact: tuple[str, str] | None = None  # (artifact directory, reserved id) for optuna-dashboard
    model: bytes | None = None  # a torch.save'd module to log with the run
    preprocessing: Any = None  # the data's, logged inside the model
    input_example: Any = None  # raw rows (a DataFrame)
    terminate: bool = True  # False leaves the status to `mlflow run`, which owns the run
    streamed: int = 0  # the first records, already logged while the trial ran


def dataset_input(name: str, features: Any, targets: Any, source: str, context: str = "training") -> Any:
    """The data set as an MLflow run input (name, digest, schema, profile); built once, logged on every run.

    `source` is a file path (a CSV) or a description of the code that made the data (bundled, synthetic).
    """
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.numpy_dataset import from_numpy
    from mlflow.entities import Dataset, DatasetInput, InputTag

    if os.path.isfile(source):
        # MLflow registers its local-file source twice (for the "" and "file" URI schemes), so resolving any path
        # warns that it "can be interpreted in multiple ways" although both readings are the same source; the
        # class is made at import time and cannot be named, so only that warning is silenced, only here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted in multiple ways")
            origin = resolve_dataset_source(source)
    else:
        origin = CodeDatasetSource(tags={"loader": source})
    fields = from_numpy(features, targets=targets, name=name, source=origin).to_dict()
    # The run input as `mlflow.log_input` makes it, by run id rather than from the thread's active run.
    entity = Dataset(
        name=fields["name"],
        digest=fields["digest"],
        source_type=fields["source_type"],
        source=fields["source"],
        schema=fields.get("schema"),
        profile=fields.get("profile"),
    )
    return DatasetInput(entity, [InputTag("mlflow.data.context", context)])


# The MLflow UI (3.x) opens an experiment of unknown kind in its GenAI mode, with the runs a click away under
# "Training runs"; this tag makes it open on the runs table. A kind a user chose is kept.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = {EXPERIMENT_KIND_TAG: "custom_model_development"}


def experiment_id(tracking_uri: str, name: str) -> str:
    """The id of the experiment called `name`, created (as a model-training experiment) if it does not exist."""
    mlflow = client(tracking_uri)
    experiment = mlflow.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else mlflow.create_experiment(name, tags=EXPERIMENT_KIND)


def mark_training_experiment(tracking_uri: str, experiment: str) -> None:
    """Tag an existing experiment (the one `mlflow run` chose) as model training, unless its kind is set."""
    mlflow = client(tracking_uri)
    if not set(EXPERIMENT_KIND) & set(mlflow.get_experiment(experiment).tags):
        for key, value in EXPERIMENT_KIND.items():
            mlflow.set_experiment_tag(experiment, key, value)


def log_params(tracking_uri: str, run_id: str, params: Mapping[str, str]) -> None:
    """Params in batches of MLflow's limit."""
    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client(tracking_uri).log_batch(run_id, params=items[start : start + MAX_PARAMS_PER_BATCH])


def log_metrics(tracking_uri: str, run_id: str, metrics: list[Metric], tags: Mapping[str, str] | None = None) -> None:
    """Metrics in batches of MLflow's limit, the tags with the first batch (one call for a cheap trial)."""
    mlflow = client(tracking_uri)
    tags = tags or {}
    batches = [metrics[i : i + MAX_METRICS_PER_BATCH] for i in range(0, len(metrics), MAX_METRICS_PER_BATCH)]
    for i, batch in enumerate(batches or [[]]):
        mlflow.log_batch(run_id, metrics=batch, tags=[RunTag(k, v) for k, v in tags.items()] if i == 0 else [])


def _log_dataset(tracking_uri: str, run_id: str, dataset: Any) -> None:
    if dataset is not None:
        client(tracking_uri).log_inputs(run_id, datasets=[dataset])


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
    reopen: bool = True,
) -> StudyRun:
    """The study's parent run: the one recorded in the study (resume), the one `mlflow run` made, or a new one.

    A run reopened on resume is set RUNNING again until this session ends it (not with `reopen=False`). The
    settings-change tags among `tags` are set on a resumed run too.
    """
    mlflow = client(tracking_uri)
    if existing_run_id:
        run = mlflow.get_run(existing_run_id)
        owned = run.info.run_id != launcher_run_id
        if owned and reopen:
            mlflow.update_run(run.info.run_id, status="RUNNING")
        changed = {k: v for k, v in tags.items() if k.startswith(TAG_CHANGE) or k == TAG_SAMPLER}
        if any(k.startswith(TAG_CHANGE) for k in changed):
            mlflow.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in changed.items()])
        if launcher_run_id and launcher_run_id != run.info.run_id:
            # `mlflow run` made a fresh run for this resumed session: point it at the study's run.
            mlflow.set_tag(launcher_run_id, TAG_STUDY_RUN_ID, run.info.run_id)
        return StudyRun(tracking_uri, run.info.experiment_id, run.info.run_id, owned)

    if launcher_run_id:
        run = mlflow.get_run(launcher_run_id)
        experiment, run_id, owned = run.info.experiment_id, run.info.run_id, False
        mlflow.set_tag(run_id, MLFLOW_RUN_NAME, study_name)
        mark_training_experiment(tracking_uri, experiment)
    else:
        experiment = experiment_id(tracking_uri, experiment_name)
        run_id, owned = mlflow.create_run(experiment, run_name=study_name).info.run_id, True
    mlflow.log_batch(run_id, tags=[RunTag(k, v) for k, v in {**tags, MLFLOW_RUN_NOTE: note}.items()])
    log_params(tracking_uri, run_id, params)
    _log_dataset(tracking_uri, run_id, dataset)
    return StudyRun(tracking_uri, experiment, run_id, owned)


def start_run(
    tracking_uri: str,
    experiment: str,
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    dataset: Any = None,
    parent_run_id: str | None = None,
    start_ms: int | None = None,
) -> str:
    """A new run with its params and data set (a child of `parent_run_id` when given); returns its id.

    `start_ms` is when its trial started: the tracking process may make the run later than that.
    """
    tags = {**tags, MLFLOW_PARENT_RUN_ID: parent_run_id} if parent_run_id else dict(tags)
    run_id = client(tracking_uri).create_run(experiment, start_time=start_ms, run_name=run_name, tags=tags).info.run_id
    log_params(tracking_uri, run_id, params)
    _log_dataset(tracking_uri, run_id, dataset)
    return run_id


def join_run(tracking_uri: str, run_id: str, params: Mapping[str, str], tags: Mapping[str, str], dataset: Any) -> str:
    """Params, tags and data set into an existing run (the one `mlflow run` made); returns its id."""
    _log_dataset(tracking_uri, run_id, dataset)
    log_params(tracking_uri, run_id, params)
    client(tracking_uri).log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    return run_id


def epoch_metrics(records: Sequence[EpochRecord], started_ms: int) -> list[Metric]:
    """Each record's metrics with step = epoch, stamped with the wall time its epoch ended."""
    return [
        Metric(name, value, started_ms + int(record.seconds * 1000), record.epoch)
        for record in records
        for name, value in record.metrics().items()
    ]


def log_epochs(tracking_uri: str, run_id: str, records: Sequence[EpochRecord], started_ms: int) -> None:
    """Epochs of a trial still running (a long trial streams its curves instead of sending them at its end)."""
    log_metrics(tracking_uri, run_id, epoch_metrics(records, started_ms))


def run_status(outcome: TrialOutcome) -> str:
    """The MLflow status a run ends with: its Optuna state's, or KILLED when interrupted."""
    return INTERRUPTED_STATUS if outcome.interrupted else RUN_STATUS[outcome.state]


def finish_run(tracking_uri: str, run_id: str, finished: FinishedRun) -> None:
    """Metric histories, final metrics, state tags, loss curve, resolved config, model and status of a run."""
    from optflow.tracking.plots import figure_png, loss_curve

    outcome = finished.outcome
    metrics = epoch_metrics(outcome.records[finished.streamed :], outcome.started_ms)
    now = int(time.time() * 1000)
    metrics += [Metric(name, float(value), now, 0) for name, value in outcome.final_metrics().items()]
    tags = {TAG_TRIAL_STATE: outcome.state}
    if outcome.batch_size_used is not None:
        tags[TAG_BATCH_SIZE_USED] = str(outcome.batch_size_used)
    if outcome.resumed_from is not None:
        tags[TAG_RESUMED_FROM] = str(outcome.resumed_from)
    if outcome.state == "PRUNED" and outcome.records:
        tags[TAG_PRUNED_AT] = str(outcome.records[-1].epoch)
    elif outcome.reason:
        tags[TAG_FAIL_REASON] = outcome.reason[:MAX_TAG_LENGTH]
    log_metrics(tracking_uri, run_id, metrics, tags)

    with tempfile.TemporaryDirectory() as tmp:  # one upload: the resolved config and the loss curve
        Path(tmp, "config.yaml").write_text(finished.config_yaml)
        if outcome.records:
            png = figure_png(loss_curve(outcome.records, finished.title))
            Path(tmp, "loss_curve.png").write_bytes(png)
            if finished.optuna_artifact is not None:  # one drawing serves MLflow and optuna-dashboard
                from optflow.tracking.dashboard import write_artifact

                write_artifact(*finished.optuna_artifact, png)
        client(tracking_uri).log_artifacts(run_id, tmp)
    for path in outcome.artifacts:  # files an own loop handed over, under their own names
        client(tracking_uri).log_artifact(run_id, path)
    if finished.model is not None:
        from optflow.tracking.model_artifact import log_model

        log_model(tracking_uri, run_id, finished.model, finished.preprocessing, finished.input_example)
    if finished.terminate:  # ended when the trial did, however late this runs
        client(tracking_uri).set_terminated(run_id, run_status(outcome), end_time=outcome.ended_ms or None)


def finish_trial_run(study_run: StudyRun, run_id: str, finished: FinishedRun) -> None:
    """A trial's run as `finish_run` ends it, and the study's best value so far on the study run."""
    finish_run(study_run.tracking_uri, run_id, finished)
    outcome = finished.outcome
    if outcome.complete and outcome.study_best is not None:
        best, step = outcome.study_best, outcome.number
        client(study_run.tracking_uri).log_metric(study_run.run_id, STUDY_BEST_VALUE, best, step=step)


def log_study_artifacts(
    study_run: StudyRun, files: Mapping[str, bytes | str], tags: Mapping[str, str] | None = None
) -> None:
    """Write summary files (path inside the run -> content) to the study run, as one upload of a tree, and
    set `tags` (its best trial's run, its description)."""
    if tags:
        client(study_run.tracking_uri).log_batch(study_run.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    with tempfile.TemporaryDirectory() as tmp:
        for path, content in files.items():
            local = Path(tmp, path)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content.encode() if isinstance(content, str) else content)
        client(study_run.tracking_uri).log_artifacts(study_run.run_id, tmp)


def tag_runs(tracking_uri: str, run_ids: Mapping[str, Mapping[str, str]]) -> None:
    """Set tags on other runs (the Pareto-optimal trials' runs), one batch per run."""
    mlflow = client(tracking_uri)
    for run_id, tags in run_ids.items():
        mlflow.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def close_study_run(study_run: StudyRun, status: str, if_changed: bool = False, end_ms: int | None = None) -> None:
    """Set the study run's final status when optflow owns it (FINISHED, KILLED or FAILED), ending it at `end_ms`
    (the last trial's end) or now; with `if_changed`, only when it has another status (a session that ran
    nothing mends what an interrupted one left)."""
    if not study_run.owned:
        return
    mlflow = client(study_run.tracking_uri)
    if if_changed and mlflow.get_run(study_run.run_id).info.status == status:
        return
    mlflow.set_terminated(study_run.run_id, status, end_time=end_ms)
