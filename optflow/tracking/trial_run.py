"""The MLflow run a trial (or `optflow train`) trains into: streamed epochs while it runs, its outcome at the end.

`TrialRun` links itself from the Optuna trial as soon as it exists, so a crash can be traced; `NullTrialRun` is
its twin for `--no-tracking`, which still writes the trial's note for optuna-dashboard.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
import yaml

from optflow.config import Config
from optflow.contract import ATTR_EXPERIMENT_ID, ATTR_RUN_ID
from optflow.records import EpochRecord, TrialListener, TrialOutcome
from optflow.tracking import mlflow_runs, system_metrics
from optflow.tracking.background import Background
from optflow.tracking.dashboard import mlflow_run_link, reserve_artifact, save_trial_note
from optflow.tracking.kept_models import KeptModels
from optflow.tracking.mlflow_runs import FinishedRun, StudyRun
from optflow.tracking.model_artifact import INPUT_EXAMPLE_ROWS, serialize_model

if TYPE_CHECKING:
    import torch

    from optflow.data import Dataset


def stream_seconds() -> float:
    """How often a running trial sends its epochs (`OPTFLOW_STREAM_SECONDS`, default 5 s of training)."""
    return float(os.environ.get("OPTFLOW_STREAM_SECONDS", "5"))


class TrackedRun(TrialListener):
    """One MLflow run being trained into; its creation may still be under way in the tracking process."""

    def __init__(self, background: Background, tracking_uri: str, created: Future, config: Config) -> None:
        self._background = background
        self._tracking_uri = tracking_uri
        self._created = created
        self.config = config
        self.preprocessing: Any = None  # what the run's model is logged with
        self.input_example: Any = None
        self._started_ms = int(time.time() * 1000)
        self._unsent: list[EpochRecord] = []  # epochs not yet streamed
        self._streamed = 0
        self._sent_at = 0.0  # training seconds at the last send

    def started(self, config: Config, data: Dataset | None) -> None:
        """Training (re)starts with `config`: the run's config.yaml is what ran (half the batch, after CUDA ran
        out of memory); its model is logged with `data`'s preprocessing and input example (a trial that searches
        a data field trains on data of its own)."""
        self.config = config
        if data is not None:
            self.preprocessing, self.input_example = data.preprocessing, data.raw_val[:INPUT_EXAMPLE_ROWS]

    def _stream(self, record: EpochRecord) -> None:
        """A long run's epochs go to MLflow while it trains, at most every `stream_seconds()` of training, so its
        curves can be watched; a cheap run's are sent in one batch with its end (one call instead of many)."""
        self._unsent.append(record)
        if record.seconds - self._sent_at >= stream_seconds() and self._created.done():
            run_id = self.run_id()
            if run_id is not None:
                records, self._unsent = tuple(self._unsent), []
                self._background.submit(mlflow_runs.log_epochs, self._tracking_uri, run_id, records, self._started_ms)
                self._streamed += len(records)
                self._sent_at = record.seconds

    def run_id(self) -> str | None:
        """The run's id once it exists; None if it could not be made (the tracking process said why)."""
        try:
            return self._created.result()
        except Exception:  # noqa: BLE001 - reported and counted by the tracking process
            return None

    def _finished(self, outcome: TrialOutcome, title: str, **extra: Any) -> FinishedRun:
        config_yaml = yaml.safe_dump(self.config.resolved(), sort_keys=False)
        return FinishedRun(outcome, config_yaml, title, **extra)


@dataclass(frozen=True)
class StudyRunHandle:
    """What each trial's run is handed of the study's: where runs go, the study run, which models are logged."""

    background: Background
    tracking_uri: str
    study_run: StudyRun
    artifact_dir: str  # optuna-dashboard's artifact store
    log_models: str  # none, best or all
    kept: KeptModels  # with best: the models that may be logged when the study ends


class TrialRun(TrackedRun):
    """A trial's child run: links itself from the Optuna trial it is handed, and ends with the trial's outcome."""

    def __init__(self, study: StudyRunHandle, trial: optuna.Trial, created: Future, config: Config) -> None:
        super().__init__(study.background, study.tracking_uri, created, config)
        self._study = study
        self._trial = trial
        self._linked = False
        self._finished_run: Future | None = None

    def logged(self) -> bool:
        """Whether the run was made and ended as the trial did (once the tracking process is closed)."""
        done = self._finished_run
        return self.run_id() is not None and done is not None and done.done() and done.exception() is None

    def epoch(self, record: EpochRecord) -> None:
        """One epoch ended; the run is linked from the trial as soon as it exists, so a crash can be traced,
        and a long trial's epochs stream (`_stream`)."""
        if not self._linked and self._created.done():
            self._link()
        self._stream(record)

    def _link(self) -> str | None:
        run_id = self.run_id()
        self._linked = True
        if run_id is not None and self._trial.user_attrs.get(ATTR_RUN_ID) != run_id:
            # A retried trial arrives with the dead trial's attrs: those are overwritten.
            self._trial.set_user_attr(ATTR_RUN_ID, run_id)
            self._trial.set_user_attr(ATTR_EXPERIMENT_ID, self._study.study_run.experiment_id)
        return run_id

    def ended(self, outcome: TrialOutcome, model: torch.nn.Module | None) -> None:
        """Hand the ended trial to the tracking process and write its note for optuna-dashboard."""
        run_id = self._link()
        study = self._study
        link = ""
        if run_id is not None:
            artifact = None
            if outcome.records:
                reserved = reserve_artifact(self._trial, "loss_curve.png", "image/png")
                artifact = (study.artifact_dir, reserved)
            finished = self._finished(
                outcome,
                f"trial {outcome.number}",
                streamed=self._streamed,
                optuna_artifact=artifact,
                model=self._model_to_log_now(outcome, run_id, model),
                preprocessing=self.preprocessing,
                input_example=self.input_example,
            )
            if self.config.study.system_metrics:
                self._background.submit(system_metrics.stop_monitor, run_id)
            self._finished_run = self._background.submit(
                mlflow_runs.finish_trial_run, study.study_run, run_id, finished
            )
            link = mlflow_run_link(self._tracking_uri, study.study_run.experiment_id, run_id)
        save_trial_note(self._trial, outcome, self.config.study.metric, link)

    def _model_to_log_now(self, outcome: TrialOutcome, run_id: str, model: torch.nn.Module | None) -> bytes | None:
        """The model bytes to log with this run now (`log_models: all`); with `best`, a model that may be logged
        when the study ends is kept until then instead."""
        policy = self._study.log_models
        if not outcome.complete or model is None or policy == "none":
            return None
        if policy == "best":
            logged_with = (self.preprocessing, self.input_example)
            self._study.kept.offer(outcome, run_id, lambda: serialize_model(model), logged_with)
            return None
        return serialize_model(model)


class NullTrialRun(TrialListener):
    """A trial without MLflow: its note in optuna-dashboard is still written."""

    def __init__(self, trial: optuna.Trial, config: Config) -> None:
        self._trial = trial
        self._config = config

    def ended(self, outcome: TrialOutcome, model: torch.nn.Module | None) -> None:
        save_trial_note(self._trial, outcome, self._config.study.metric)
