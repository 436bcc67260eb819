"""The optuna-dashboard side of a study: Markdown notes that link the study and each trial to MLflow.

Notes live in the study's system attrs (optuna-dashboard's own format, written with its `save_note`), so they
can be written while a trial runs or after it ended.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import optuna
from optuna_dashboard import save_note

from optflow.contract import run_page
from optflow.errors import UsageError
from optflow.records import TrialOutcome
from optflow.search.optuna_private import set_trial_system_attr
from optflow.urls import mask_password


def mlflow_run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """A Markdown link to the run in the MLflow UI for a tracking server; the run id otherwise."""
    if tracking_uri.startswith(("http://", "https://")):
        base = mask_password(tracking_uri).rstrip("/")
        return f"[{run_id}]({base}/{run_page(experiment_id, run_id)})"
    return f"`{run_id}` (open with `mlflow ui --backend-store-uri {mask_password(tracking_uri)}`)"


def save_study_note(study: optuna.Study, text: str) -> None:
    """The study's note in optuna-dashboard (Markdown)."""
    save_note(study, text)


def trial_note(outcome: TrialOutcome, metric: str, run_link: str) -> str:
    """The key numbers of a finished trial and where its MLflow run is."""
    value = outcome.value
    lines = [f"**{outcome.state}**" + (f": {metric} = {value:.6g}" if value is not None else "")]
    if outcome.records:
        last = outcome.records[-1]
        lines.append(
            f"{len(outcome.records)} epochs in {last.seconds:.2f} s; last epoch: "
            + ", ".join(f"{name} {number:.4g}" for name, number in last.metrics().items())
        )
    if outcome.reason:
        lines.append(f"reason: {outcome.reason}")
    if run_link:
        lines.append(f"MLflow run: {run_link}")
    return "\n\n".join(lines)


def save_trial_note(trial: optuna.Trial, outcome: TrialOutcome, metric: str, run_link: str = "") -> None:
    """The trial's note in optuna-dashboard: its state, numbers and MLflow run."""
    save_note(trial, trial_note(outcome, metric, run_link))


ARTIFACTS_DIR = "optuna_artifacts"


def artifact_dir(storage_url: str, configured: str = "") -> Path:
    """Where a study's Optuna artifacts live: the configured directory, else beside an SQLite storage file,
    else in the working directory (give every machine of a server-backed study one shared directory)."""
    if configured:
        path = Path(configured).resolve()
    elif storage_url.startswith("sqlite:///"):
        path = Path(storage_url.removeprefix("sqlite:///").split("?", 1)[0]).resolve().parent / ARTIFACTS_DIR
    else:
        path = Path(ARTIFACTS_DIR).resolve()
    try:
        is_file = path.exists() and not path.is_dir()
    except OSError as error:
        raise UsageError(
            f"study.artifact_dir must be a directory optflow can reach; got {str(path)!r} ({error.strerror})"
        ) from None
    if is_file:
        raise UsageError(f"study.artifact_dir must be a directory; got {str(configured or path)!r} (a file)")
    return path


def reserve_artifact(trial: optuna.Trial, filename: str, mimetype: str) -> str:
    """Register an artifact on a running trial now and return its id; the file is written later.

    Optuna only lets a trial's attrs change while it runs, and drawing the figure costs tens of
    milliseconds: so the trial records the artifact's id at once (one storage write) and the tracking process
    writes the file under that id with `write_artifact` when it draws the same figure for MLflow. The record
    has the shape `optuna.artifacts.upload_artifact` writes (tests read it back with Optuna's public API).
    """
    artifact_id = str(uuid.uuid4())
    meta = {"artifact_id": artifact_id, "filename": filename, "mimetype": mimetype, "encoding": None}
    set_trial_system_attr(trial.study, trial, f"artifacts:{artifact_id}", json.dumps(meta))
    return artifact_id


def write_artifact(directory: str, artifact_id: str, content: bytes) -> None:
    """The file of a reserved artifact, into the study's file-system artifact store."""
    from optuna.artifacts import FileSystemArtifactStore

    Path(directory).mkdir(parents=True, exist_ok=True)
    FileSystemArtifactStore(directory).write(artifact_id, io.BytesIO(content))


def serve(storage: optuna.storages.BaseStorage, url: str, host: str, port: int, artifacts: Path) -> None:
    """Run optuna-dashboard on the study's storage (and artifact store) until interrupted.

    The socket is bound before the address is printed, so the line is a true readiness signal for scripts.
    """
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import wsgi

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # one line per request is noise here
            pass

    store = FileSystemArtifactStore(str(artifacts)) if artifacts.is_dir() else None
    try:
        server = make_server(host, port, wsgi(storage, artifact_store=store), handler_class=QuietHandler)
    except OSError as error:
        raise UsageError(f"--port must be free on {host}; got {port} ({error.strerror})") from None
    with server:
        print(f"optuna-dashboard for {mask_password(url)} listening on http://{host}:{port}/", flush=True)
        server.serve_forever()
