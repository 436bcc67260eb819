"""One trial: sample its params, train, report each epoch to Optuna, hand the results to tracking."""

from __future__ import annotations

import io
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
import yaml
from optuna.trial import FrozenTrial

from optflow import tracking
from optflow.background import Background
from optflow.budget import FAIL_REASON_ATTR
from optflow.config import Config, resolve_direction, resolved_config, run_params, training_params
from optflow.dashboard import artifact_dir, mlflow_run_link, reserve_artifact, save_trial_note, trial_note
from optflow.data import Dataset
from optflow.interrupts import interruptible
from optflow.records import EpochRecord, best_value, final_metrics
from optflow.space import suggest
from optflow.training import TrainingDiverged, fit, new_model

INPUT_EXAMPLE_ROWS = 5
WORKER_ATTR = "worker"  # trial user attr: which process ran it (host:pid), as Ray Tune shows node and pid
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class EndedTrial:
    """How a trial ended, as the objective hands it to tracking."""

    state: str  # COMPLETE, PRUNED or FAIL
    run_status: str | None  # overrides the MLflow status implied by the state (KILLED when interrupted)
    reason: str
    value: float | None
    better: bool  # a new best of this worker
    records: list[EpochRecord]
    started_ms: int


@dataclass
class BestModel:
    """The best model this worker trained, kept to log once at the end (`log_models: best`)."""

    value: float
    trial_number: int
    run: Future
    model: bytes


@dataclass
class Objective:
    """Runs one trial: sample params, train, report epochs to Optuna, hand the results to tracking."""

    config: Config
    data: Dataset
    background: Background | None
    study_run: tracking.StudyRun | None
    on_trial_end: Callable[[FrozenTrial | optuna.Trial, str, float | None, list[EpochRecord]], None]
    best_model: BestModel | None = None
    study_best: float | None = None
    dataset: Any = None  # the MLflow dataset input logged on every trial run
    after_sampling: Callable[[], None] = lambda: None  # releases the study lock once the params are drawn
    seconds: list[float] = field(default_factory=list)

    @property
    def maximize(self) -> bool:
        return resolve_direction(self.config.study) == "maximize"

    def __call__(self, trial: optuna.Trial) -> float:
        started = time.perf_counter()
        started_ms = int(time.time() * 1000)
        sampled = suggest(trial, self.config)
        self.after_sampling()
        trial.set_user_attr(WORKER_ATTR, WORKER_ID)
        model_config, training_config = training_params(self.config, sampled)
        run = self._start_run(trial, sampled, model_config, training_config)
        metric = self.config.study.metric
        prunes = self.config.study.pruner != "none"
        records: list[EpochRecord] = []
        state, run_status, reason, value = "FAIL", None, "", None
        model = new_model(model_config, training_config, self.data)
        try:
            epochs = fit(model, self.data, training_config, metric, self.maximize)
            while True:
                with interruptible():  # Ctrl-C stops the trial only inside training steps, never mid-bookkeeping
                    record = next(epochs, None)
                if record is None:
                    break
                records.append(record)
                trial.report(record.metrics()[metric], record.epoch)
                if run is not None and record.epoch == 0 and run.done():
                    self._link(trial, run)  # early, so a crashed trial can be found from Optuna
                if prunes and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {record.epoch} by the {self.config.study.pruner} pruner")
            value = best_value(records, metric, self.maximize)
            state = "COMPLETE"
            return value
        except optuna.TrialPruned as error:
            state, reason = "PRUNED", str(error)
            raise
        except TrainingDiverged as error:
            reason = f"diverged: {error}"
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            raise
        except KeyboardInterrupt:
            reason, run_status = "interrupted (Ctrl-C or SIGTERM)", "KILLED"
            raise
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            raise
        finally:
            self.seconds.append(time.perf_counter() - started)
            better = value is not None and (
                self.study_best is None or (value > self.study_best if self.maximize else value < self.study_best)
            )
            if better:
                self.study_best = value
            if run is not None:
                self._link(trial, run)
                ended = EndedTrial(state, run_status, reason, value, better, records, started_ms)
                self._finish_run(trial, run, ended, model, model_config, training_config)
            link = ""
            if run is not None and run.done() and not run.exception():
                link = mlflow_run_link(self.study_run.tracking_uri, self.study_run.experiment_id, run.result())
            save_trial_note(trial, trial_note(state, value, self.config.study.metric, records, reason, link))
            self.on_trial_end(trial, state, value, records)

    def _start_run(self, trial: optuna.Trial, sampled: dict, model_config, training_config) -> Future | None:
        if self.background is None or self.study_run is None:
            return None
        params = run_params(model_config, training_config)
        tags = {
            "optuna.study_name": self.config.study.name,
            "optuna.trial_number": str(trial.number),
            "optflow.searched": ",".join(sampled),
            "optflow.worker": WORKER_ID,
        }
        # Set by Optuna's retry of a dead worker's trial.
        retried = trial.storage.get_trial_system_attrs(trial._trial_id).get("failed_trial")
        if retried is not None:
            tags["optflow.retry_of"] = str(retried)
        return self.background.submit(
            tracking.start_trial_run, self.study_run, f"trial-{trial.number:04d}", params, tags, dataset=self.dataset
        )

    def _link(self, trial: optuna.Trial, run: Future) -> None:
        if trial.user_attrs.get("mlflow_run_id") == run.result():
            return  # a retried trial arrives with the dead trial's attrs: those are overwritten
        trial.set_user_attr("mlflow_run_id", run.result())
        trial.set_user_attr("mlflow_experiment_id", self.study_run.experiment_id)

    def _finish_run(self, trial, run, ended: EndedTrial, model, model_config, training_config) -> None:
        state, value, records = ended.state, ended.value, ended.records
        artifact = None
        if records:
            reserved = reserve_artifact(trial, "loss_curve.png", "image/png")
            artifact = (str(artifact_dir(self.config.study.storage, self.config.study.artifact_dir)), reserved)
        model_bytes = serialize_model(model) if state == "COMPLETE" and self.config.study.log_models != "none" else None
        if ended.better and model_bytes is not None and self.config.study.log_models == "best":
            self.best_model = BestModel(value, trial.number, run, model_bytes)
        resolved = resolved_config(self.config, model_config, training_config)
        outcome = tracking.TrialOutcome(
            number=trial.number,
            state=state,
            run_status=ended.run_status,
            records=records,
            final_metrics=final_metrics(records, state == "COMPLETE"),
            config_yaml=yaml.safe_dump(resolved, sort_keys=False),
            started_ms=ended.started_ms,
            fail_reason=ended.reason,
            study_best=self.study_best if state == "COMPLETE" else None,
            model=model_bytes if self.config.study.log_models == "all" else None,
            input_example=self.input_example,
            optuna_artifact=artifact,
        )
        self.background.submit(tracking.finish_trial_run, self.study_run, run.result(), outcome)

    @property
    def input_example(self) -> Any:
        return self.data.x_val[:INPUT_EXAMPLE_ROWS].cpu().numpy()


def serialize_model(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.cpu(), buffer)
    return buffer.getvalue()
