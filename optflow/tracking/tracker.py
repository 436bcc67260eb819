"""The MLflow side of a study, as an object the study layer drives: what is logged, and when.

`StudyTracker` owns the tracking process, the study run, the contract's tags and the model-logging policy; each
trial gets a `TrialRun` (`trial_run.py`) that listens to the trial. It writes nothing of the study to Optuna
and never takes the study's lock: `study/study_run.py` decides when to open, link and summarise. `NullTracker`
stands in for `--no-tracking`; `train_tracker.py` does the same for `optflow train`'s single run. The caller
never sees a future or a tracking failure: the tracking process reports and counts them (`background.py`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import optuna
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE
from optuna.trial import FrozenTrial

from optflow.config import Config
from optflow.contract import (
    ATTR_RUN_ID,
    TAG_BEST_RUN,
    TAG_CHANGE,
    TAG_DEVICE,
    TAG_OPTFLOW_STUDY,
    TAG_PARETO,
    TAG_RETRY_OF,
    TAG_SAMPLER,
    TAG_SEARCHED,
    TAG_STORAGE,
    TAG_STUDY_NAME,
    TAG_TRIAL_NUMBER,
    TAG_WORKER,
    WORKER_ID,
    trial_run_name,
)
from optflow.search.optuna_private import retried_trial_number
from optflow.tracking import mlflow_runs, recovery, system_metrics
from optflow.tracking.background import Background
from optflow.tracking.dashboard import artifact_dir, mlflow_run_link
from optflow.tracking.kept_models import KeptModel, KeptModels
from optflow.tracking.mlflow_runs import StudyRun
from optflow.tracking.model_artifact import find_logged_model, log_model_file
from optflow.tracking.params import run_params, study_params
from optflow.tracking.study_note import study_run_note
from optflow.tracking.trial_run import NullTrialRun, StudyRunHandle, TrialRun
from optflow.urls import mask_password

if TYPE_CHECKING:
    from optflow.data import Dataset


ChangeList = Sequence[tuple[str, Any, Any]]  # (setting, before, now) of a study run again with other settings


def _change_tags(changes: ChangeList, at_trial: int) -> dict[str, str]:
    """A tag per changed setting: `optflow.change.12.sampler = random -> gp` (from trial 12 on)."""
    return {f"{TAG_CHANGE}.{at_trial}.{name}": f"{before} -> {now}" for name, before, now in changes}


class StudyTracker:
    """The MLflow side of one worker's share of a study: its study run, a child run per trial, the summary.

    It never writes Optuna state of the study nor takes the study's lock: the study layer (`study/study_run.py`)
    decides when to open, link and summarise, and records in Optuna what was done.
    """

    def __init__(self, config: Config, *, tracking_uri: str | None = None, inline: bool = False) -> None:
        import mlflow

        self.config = config
        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self.artifact_dir = str(artifact_dir(config.study.storage, config.study.artifact_dir))
        self._background = Background(inline=inline, where=mask_password(self.tracking_uri))
        self._warm = self._background.submit(mlflow_runs.warm_up)  # the process imports MLflow meanwhile
        self.study_run: StudyRun | None = None
        self._handle: StudyRunHandle | None = None  # what each trial's run is handed
        self._model_uri: Future | None = None
        self._dataset: Any = None
        self._kept = KeptModels(config.study.goals)  # with log_models: best
        self._trial_runs: list[TrialRun] = []
        self._unlogged = 0  # trials that got no run at all (the study run could not be opened)

    @property
    def study_run_id(self) -> str | None:
        return self.study_run.run_id if self.study_run else None

    def ready(self) -> None:
        """Check the tracking store up front (a `UsageError` if it cannot be used), and wait until the tracking
        process has imported MLflow; call before taking the study lock."""
        launched = os.environ.get("MLFLOW_RUN_ID")  # `mlflow run` chose the experiment and made the run
        experiment = None if launched else self.config.study.experiment or self.config.study.name
        mlflow_runs.check_store(self.tracking_uri, experiment)
        self._warm.result()

    def open(
        self,
        linked_run_id: str | None,
        n_trials: int,
        data: Dataset | None,
        changes: ChangeList = (),
        reopen: bool = True,
    ) -> StudyRun | None:
        """The study's MLflow run: `linked_run_id` (the one the study names) or a new one; None when it could
        not be opened (warned about and counted; the study goes on in Optuna). `changes` are the settings this
        session changed from trial `n_trials` on (recorded as tags); `reopen=False` leaves a finished run's
        status (nothing will run)."""
        if data is not None:  # an own loop loads its data itself
            x, y = data.x_train.numpy(), data.y_train.numpy()
            self._dataset = mlflow_runs.dataset_input(data.name, x, y, data.source)
        config = self.config
        opened = self._background.submit(
            mlflow_runs.open_study_run,
            self.tracking_uri,
            study_name=config.study.name,
            experiment_name=config.study.experiment or config.study.name,
            existing_run_id=linked_run_id,
            launcher_run_id=os.environ.get("MLFLOW_RUN_ID"),
            tags={
                TAG_OPTFLOW_STUDY: config.study.name,
                TAG_SAMPLER: config.study.sampler,
                TAG_STORAGE: mask_password(config.study.storage),
                **_change_tags(changes, n_trials),
            },
            params=study_params(config),
            note=study_run_note(config, "", self.artifact_dir),
            dataset=self._dataset,
            reopen=reopen,
        )
        try:
            self.study_run = opened.result()
        except Exception:  # noqa: BLE001 - warned about and counted; the study goes on in Optuna
            return None
        self._handle = StudyRunHandle(
            self._background,
            self.tracking_uri,
            self.study_run,
            self.artifact_dir,
            config.study.log_models,
            self._kept,
        )
        return self.study_run

    def study_run_link(self) -> str:
        """Where the study run is seen: a link to a tracking server, or its id and how to open the store."""
        assert self.study_run is not None
        return mlflow_run_link(self.tracking_uri, self.study_run.experiment_id, self.study_run.run_id)

    def repair(self, ended: Mapping[int, tuple[str, str, str, int | None]]) -> None:
        """Close the runs a crashed session left RUNNING for trials that have ended, as Optuna holds them."""
        if self.study_run is not None and ended:
            self._background.submit(recovery.repair_trial_runs, self.study_run, ended)

    def trial_run(
        self, trial: optuna.Trial, params: Mapping[str, Any], config: Config, device: str = ""
    ) -> TrialRun | NullTrialRun:
        """Start the trial's child run (in the tracking process) with `config`, the trial's resolved config, and
        the device it trains on (tagged when given)."""
        if self._handle is None:  # the study run could not be opened: nothing of this trial reaches MLflow
            self._unlogged += 1
            return NullTrialRun(trial, config)
        study_run = self._handle.study_run
        tags = {
            TAG_STUDY_NAME: self.config.study.name,
            TAG_TRIAL_NUMBER: str(trial.number),
            TAG_SEARCHED: ",".join(params),
            TAG_WORKER: WORKER_ID,
        }
        if device:
            tags[TAG_DEVICE] = device
        retried = retried_trial_number(trial)  # a copy Optuna's heartbeat made of a dead worker's trial
        if retried is not None:
            tags[TAG_RETRY_OF] = str(retried)
        start = system_metrics.start_monitored_run if self.config.study.system_metrics else mlflow_runs.start_run
        created = self._background.submit(
            start,
            self.tracking_uri,
            study_run.experiment_id,
            trial_run_name(trial.number),
            run_params(config, params),
            tags,
            self._dataset,
            study_run.run_id,
            start_ms=int(time.time() * 1000),  # now, in the trial's process; the run may be made later
        )
        run = TrialRun(self._handle, trial, created, config)
        self._trial_runs.append(run)
        return run

    def close_stale_run(self, trial: FrozenTrial, reason: str) -> None:
        """Optuna's heartbeat found a dead worker's trial: close its run as FAILED with the reason."""
        if self.study_run is not None:
            run_id = trial.user_attrs.get(ATTR_RUN_ID)
            end = recovery.ms(trial.datetime_complete)
            self._background.submit(recovery.fail_stale_run, self.study_run, trial.number, run_id, reason, end)

    def log_kept_models(self, best: FrozenTrial | None, front: Sequence[FrozenTrial]) -> None:
        """The study's budget is spent: log the best model, and the front's first `pareto_models`, where this
        worker holds them (another worker logs those it trained)."""
        kept = self._kept.best
        if kept is not None and best is not None and best.number == kept.trial_number:
            self._model_uri = self._log_kept(kept, register=True)
        for trial in front[: self.config.study.pareto_models]:
            kept = self._kept.of_trial(trial.number)
            if kept is not None:
                first = trial.number == front[0].number
                future = self._log_kept(kept, register=first)
                if first:
                    self._model_uri = future

    def log_summary(self, study: optuna.Study, best: FrozenTrial | None, front: Sequence[FrozenTrial]) -> bool:
        """The study's summary files, its note and the best run's tag on the study run; whether it was stored
        (a failure is warned about and counted)."""
        from optflow.tracking.summary import summary_artifacts

        assert self.study_run is not None
        files = summary_artifacts(study, self.config)
        note = study_run_note(self.config, self.study_run.experiment_id, self.artifact_dir, best, front)
        tags = {MLFLOW_RUN_NOTE: note}
        if best is not None and ATTR_RUN_ID in best.user_attrs:
            tags[TAG_BEST_RUN] = best.user_attrs[ATTR_RUN_ID]
        stored = self._background.submit(mlflow_runs.log_study_artifacts, self.study_run, files, tags, always=True)
        return stored.exception() is None  # waits for it

    def tag_pareto_runs(self, front: Sequence[FrozenTrial], tagged_before: Collection[str]) -> list[str]:
        """`optflow.pareto = true` on the front's runs, `false` on those tagged before that are dominated now (a
        resumed study's front moves); returns the runs tagged true."""
        current = {t.user_attrs[ATTR_RUN_ID] for t in front if ATTR_RUN_ID in t.user_attrs}
        tags = {run_id: {TAG_PARETO: "true"} for run_id in current}
        tags.update({run_id: {TAG_PARETO: "false"} for run_id in set(tagged_before) - current})
        if tags:
            self._background.submit(mlflow_runs.tag_runs, self.tracking_uri, tags)
        return sorted(current)

    def adopt_best_model(self, best: FrozenTrial | None, register: bool) -> None:
        """When this worker logged no best model: the one an earlier session or another worker logged in the best
        trial's run becomes `model_uri`, registered under `register_model` (unless it already is) if `register`."""
        if self._model_uri is not None or self.study_run is None or best is None or ATTR_RUN_ID not in best.user_attrs:
            return
        name = self.config.study.register_model if register else ""
        self._model_uri = self._background.submit(
            find_logged_model, self.tracking_uri, best.user_attrs[ATTR_RUN_ID], name
        )

    def _log_kept(self, kept: KeptModel, register: bool) -> Future:
        """Log a kept model into its trial's run (read from its file in the tracking process; `close` removes
        the files only after that process is done), registered under `register_model` when `register`."""
        registered_name = self.config.study.register_model if register else ""
        preprocessing, example = kept.logged_with
        return self._background.submit(
            log_model_file, self.tracking_uri, kept.run_id, str(kept.path), preprocessing, example, registered_name
        )

    def close(self, status: str | None, if_changed: bool = False, end_ms: int | None = None) -> int:
        """Wait for every logging call; end the study run with `status` at `end_ms` (None: leave it to other
        workers). Returns how many of this worker's trials could not be logged (runs missing or incomplete)."""
        if status is not None and self.study_run is not None:
            close = mlflow_runs.close_study_run
            self._background.submit(close, self.study_run, status, if_changed, end_ms, always=True)
        self._background.close()
        self._kept.discard()
        return self._unlogged + sum(not run.logged() for run in self._trial_runs)

    @property
    def model_uri(self) -> str | None:
        """The URI of the study's best model (`models:/m-...`), logged by this worker or found by
        `adopt_best_model`, once closed; None if none."""
        uri = self._model_uri
        return uri.result() if uri is not None and uri.done() and uri.exception() is None else None


class NullTracker:
    """`--no-tracking`: no MLflow at all; each trial still gets its optuna-dashboard note."""

    tracking_uri = None
    study_run: StudyRun | None = None
    study_run_id = None
    model_uri = None

    def ready(self) -> None:
        pass

    def open(self, *args: Any, **kwargs: Any) -> None:
        return None

    def trial_run(
        self, trial: optuna.Trial, params: Mapping[str, Any], config: Config, device: str = ""
    ) -> NullTrialRun:
        return NullTrialRun(trial, config)

    def close_stale_run(self, trial: FrozenTrial, reason: str) -> None:
        pass

    def close(self, status: str | None, if_changed: bool = False, end_ms: int | None = None) -> int:
        return 0
