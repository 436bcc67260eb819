"""Shared fixtures: small data sets and configs so the suite stays fast."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from optflow.config import DataConfig, TrainingConfig
from optflow.data import Dataset, load_dataset

ROOT = Path(__file__).resolve().parents[1]  # the project directory


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset(DataConfig(name="digits"))


@pytest.fixture(scope="session")
def small_classification() -> Dataset:
    return load_dataset(DataConfig(name="classification", n_samples=300, n_features=8, n_classes=3))


@pytest.fixture(scope="session")
def diabetes() -> Dataset:
    return load_dataset(DataConfig(name="diabetes"))


@pytest.fixture
def quick_training() -> TrainingConfig:
    return TrainingConfig(epochs=5, batch_size=32, lr=0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(command: list[str], ready_text: str, timeout: float = 120.0):
    """Start a server process and return it once its output shows `ready_text` (no sleeping: the output
    lines are read as they come, and the wait ends on the line itself or fails after `timeout`)."""
    import os
    import queue
    import subprocess
    import threading

    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # MLflow 3's server also starts two job-runner processes for GenAI jobs: nothing here uses them, and each
        # imports MLflow again (seconds of CPU on a 2-core machine)
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            # the environment's own scripts first, as in an activated venv: `mlflow models serve` runs `uvicorn`
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
        },
        start_new_session=True,  # its own process group: `mlflow server` runs its workers in child processes
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)  # the process closed its output (it exited): no need to wait out the timeout

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    try:
        while not any(ready_text in line for line in seen):
            line = lines.get(timeout=timeout)
            if line is None:
                raise queue.Empty
            seen.append(line)
    except queue.Empty:
        process.kill()
        raise RuntimeError(f"{command[0]} did not print {ready_text!r}; it printed:\n{''.join(seen)}") from None
    process.ready_output = "".join(seen)
    return process


def stop_server(process) -> None:
    """Stop a server started by `start_server`, with every process of its group."""
    import os
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except Exception:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def kill_server(process) -> None:
    """SIGKILL a server started by `start_server` and every process of its group: it dies, as in a crash."""
    import os
    import signal

    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="session")
def _empty_mlflow_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made: MLflow's migrations cost about 8 CPU seconds per new store."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def migrated_mlflow_db(_empty_mlflow_db):
    """`place(directory, name="mlflow.db")`: an empty, migrated MLflow SQLite store there (for directories of
    module fixtures and server backends, which the per-test copy below does not reach)."""
    import shutil

    def place(directory: Path, name: str = "mlflow.db") -> Path:
        return Path(shutil.copy(_empty_mlflow_db, Path(directory) / name))

    return place


@pytest.fixture(autouse=True)
def _mlflow_db_ready(request, _empty_mlflow_db) -> None:
    """Every test's directory starts with an empty, migrated `mlflow.db`, as a fresh one would be after its first
    use; tests that check that nothing is created are marked `no_mlflow_db`."""
    if "tmp_path" in request.fixturenames and not request.node.get_closest_marker("no_mlflow_db"):
        import shutil

        shutil.copy(_empty_mlflow_db, request.getfixturevalue("tmp_path") / "mlflow.db")


@pytest.fixture(autouse=True)
def _forget_global_mlflow_uri():
    """Tests that load models set MLflow's process-wide tracking URI; later tests must not inherit it."""
    yield
    import mlflow

    mlflow.set_tracking_uri(None)


def count_rows(db: Path, table: str) -> int:
    """Rows of an SQLite table; 0 when the database or the table does not exist."""
    import sqlite3

    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        exists = connection.execute("select count(*) from sqlite_master where name = ?", (table,)).fetchone()[0]
        return connection.execute(f"select count(*) from {table}").fetchone()[0] if exists else 0


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A user's fresh directory: MLflow and Optuna on SQLite files in it, nothing from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("OPTFLOW_STORAGE", raising=False)
    return tmp_path


def config_error(raw) -> str:
    """The one-line message `build_config(raw)` refuses `raw` with."""
    from optflow.config import build_config
    from optflow.errors import UsageError

    with pytest.raises(UsageError) as caught:
        build_config(raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


def dashboard_api(storage: str):
    """`get(path) -> JSON` against optuna-dashboard's own HTTP API, served in-process over `storage`."""
    import json
    from wsgiref.util import setup_testing_defaults

    from optuna_dashboard import wsgi

    app = wsgi(storage)

    def get(path: str) -> dict:
        status = {}
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
        setup_testing_defaults(environ)
        body = b"".join(app(environ, lambda code, headers, *exc_info: status.setdefault("code", code)))
        assert status["code"].startswith("200"), body[:2000]
        return json.loads(body)

    return get


def study_detail(storage: str, name: str) -> dict:
    """The study as optuna-dashboard shows it: trials with notes, attrs, intermediate values."""
    get = dashboard_api(storage)
    summary = next(s for s in get("/api/studies")["study_summaries"] if s["study_name"] == name)
    return get(f"/api/studies/{summary['study_id']}")


def assert_predicts_like_retrained(loaded_model, config, params, rows: int = 7) -> None:
    """A logged model's predictions on raw rows equal those of a module retrained from the same params (same
    seed), decoded into the user's terms."""
    import numpy as np
    from model_outputs import predict

    from optflow.models import build_model
    from optflow.training import fit

    data = load_dataset(config.data)
    trial_config = config.with_params(params)
    module = build_model(trial_config, data.spec)
    for _ in fit(module, data, trial_config.training, trial_config.study.metric, trial_config.study.maximize):
        pass
    outputs = predict(module, data.x_val[:rows]).numpy()
    predicted = np.asarray(loaded_model.predict(data.raw_val.head(rows)))
    expected = data.preprocessing.decode(outputs)
    if data.task == "classification":
        assert predicted.tolist() == expected.tolist()
    else:
        np.testing.assert_allclose(predicted, expected, rtol=1e-5)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session; skipped only where no PostgreSQL is installed (never in CI)."""
    import os

    from postgres_server import ENV_URL, PostgresServer, find_bindir

    if os.environ.get(ENV_URL):
        yield _ExistingPostgres(os.environ[ENV_URL])
        return
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (apt-get install -y postgresql); multi-worker tests need it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bindir, free_port())
    server.start()
    yield server
    server.stop()


class _ExistingPostgres:
    def __init__(self, url: str) -> None:
        self._url = url
        self.password = url.split("@")[0].rsplit(":", 1)[-1] if "@" in url else ""

    def database(self, name: str) -> str:
        from postgres_server import create_database

        return create_database(self._url, name)


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh database for this test, as a URL that carries the server's password."""
    import re

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    return postgres_server.database(name)
