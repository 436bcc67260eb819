"""The MLflow side of `optflow train`: one run, made or (under `mlflow run`) joined."""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import TYPE_CHECKING

from optflow.config import Config
from optflow.contract import TAG_DATA, TAG_KIND
from optflow.records import EpochRecord, TrialOutcome
from optflow.tracking import mlflow_runs, system_metrics
from optflow.tracking.background import Background
from optflow.tracking.model_artifact import serialize_model
from optflow.tracking.params import run_params
from optflow.tracking.trial_run import TrackedRun

if TYPE_CHECKING:
    import torch

    from optflow.data import Dataset


class TrainRun(TrackedRun):
    """`optflow train`'s run: it logs its model unless `log_models` is none; under `mlflow run`, MLflow ends it."""

    def __init__(self, background: Background, tracking_uri: str, created: Future, config: Config) -> None:
        super().__init__(background, tracking_uri, created, config)
        self._title = f"optflow train: {config.objective.function or config.data.factory or config.data.name}"

    def epoch(self, record: EpochRecord) -> None:
        self._stream(record)  # a long run's curves grow in the UI while it trains

    def ended(self, outcome: TrialOutcome, model: torch.nn.Module | None) -> None:
        run_id = self.run_id()
        if run_id is None:
            return
        log = outcome.complete and model is not None and self.config.study.log_models != "none"
        finished = self._finished(
            outcome,
            self._title,
            model=serialize_model(model) if log else None,
            preprocessing=self.preprocessing,
            input_example=self.input_example,
            terminate=not os.environ.get("MLFLOW_RUN_ID"),
            streamed=self._streamed,
        )
        if self.config.study.system_metrics:
            self._background.submit(system_metrics.stop_monitor, run_id)
        self._background.submit(mlflow_runs.finish_run, self._tracking_uri, run_id, finished)


class TrainTracker:
    """The MLflow side of `optflow train`: one run in the experiment `<study>-train`, or the one `mlflow run` made."""

    def __init__(self, config: Config, *, tracking_uri: str | None = None, inline: bool = True) -> None:
        import mlflow

        self.config = config
        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self._background = Background(inline=inline)

    def start(self, data: Dataset | None) -> TrainRun:
        """Create (or join) the run with the config's params and the data set (none for an own loop)."""
        config = self.config
        params = run_params(config)
        tags = {TAG_KIND: "train", TAG_DATA: config.objective.function or config.data.factory or config.data.name}
        dataset = None
        if data is not None:
            dataset = mlflow_runs.dataset_input(data.name, data.x_train.numpy(), data.y_train.numpy(), data.source)
        launcher = os.environ.get("MLFLOW_RUN_ID")
        if launcher:
            created = self._background.submit(mlflow_runs.join_run, self.tracking_uri, launcher, params, tags, dataset)
        else:
            experiment = self._background.submit(
                mlflow_runs.experiment_id, self.tracking_uri, config.study.experiment or f"{config.study.name}-train"
            ).result()
            start = system_metrics.start_monitored_run if config.study.system_metrics else mlflow_runs.start_run
            created = self._background.submit(start, self.tracking_uri, experiment, "train", params, tags, dataset)
        created.result()  # the run exists before training starts, as `mlflow run` users expect
        return TrainRun(self._background, self.tracking_uri, created, config)

    def close(self) -> None:
        self._background.close()
