"""Shared fixtures: small data sets and configs so the suite stays fast."""

from __future__ import annotations

import pytest

from optflow.config import DataConfig, TrainingConfig
from optflow.data import Dataset, load_dataset


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
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        while not any(ready_text in line for line in seen):
            seen.append(lines.get(timeout=timeout))
    except queue.Empty:
        process.kill()
        raise RuntimeError(f"{command[0]} did not print {ready_text!r}; it printed:\n{''.join(seen)}") from None
    process.ready_output = "".join(seen)
    return process


def stop_server(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except Exception:
        process.kill()


@pytest.fixture(autouse=True)
def _forget_global_mlflow_uri():
    """Tests that load models set MLflow's process-wide tracking URI; later tests must not inherit it."""
    yield
    import mlflow

    mlflow.set_tracking_uri(None)


def assert_predicts_like_retrained(loaded_model, config, params, rows: int = 7) -> None:
    """A logged model's predictions equal those of a module retrained from the same params (same seed)."""
    import numpy as np

    from optflow.config import training_params
    from optflow.training import fit, new_model, predict

    data = load_dataset(config.data)
    model_config, training_config = training_params(config, params)
    module = new_model(model_config, training_config, data)
    for _ in fit(module, data, training_config):
        pass
    x = data.x_val[:rows]
    expected = predict(module, x).numpy()
    np.testing.assert_allclose(np.asarray(loaded_model.predict(x.numpy())), expected, rtol=1e-5, atol=1e-6)
