"""The MLflow side of a study or of one training run, as objects the caller drives: what is logged, and when.

`StudyTracker` owns the tracking process, the study run, the contract's tags and attrs, the model-logging and
summary policy and the optuna-dashboard artifacts; each trial gets a `TrialRun` that takes the trial's epoch
records and its outcome. `NullTracker` is its twin for `--no-tracking` (Optuna still gets each trial's note);
`train_tracker.py` does the same for `optflow train`'s single run. The caller never sees a future or a
tracking failure: the tracking process reports and counts them (`background.py`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import optuna
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE
from optuna.trial import FrozenTrial

from optflow.config import Config
from optflow.contract import (
    ATTR_EXPERIMENT_ID,
    ATTR_PARENT_RUN_ID,
    ATTR_RUN_ID,
    ATTR_TRACKING_URI,
    SYSTEM_ATTR_PARETO_RUNS,
    SYSTEM_ATTR_RETRY_OF,
    SYSTEM_ATTR_SUMMARY,
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
    run_page,
    trial_run_name,
)
from optflow.records import TrialOutcome
from optflow.search.optuna_private import set_study_system_attr, study_system_attrs, trial_system_attrs
from optflow.search.ranking import best_trial, first_value, pareto_trials
from optflow.tracking import mlflow_runs, recovery, system_metrics
from optflow.tracking.background import Background
from optflow.tracking.dashboard import (
    artifact_dir,
    mlflow_run_link,
    save_study_note,
)
from optflow.tracking.kept_models import KeptModel, KeptModels
from optflow.tracking.mlflow_runs import StudyRun
from optflow.tracking.model_artifact import INPUT_EXAMPLE_ROWS, find_logged_model, log_model_file, serialize_model
from optflow.tracking.params import run_params, study_params
from optflow.tracking.trial_run import NullTrialRun, TrialRun
from optflow.urls import mask_password

if TYPE_CHECKING:
    import torch

    from optflow.data import Dataset


class StudyLockLike(Protocol):
    def held(self) -> AbstractContextManager[None]: ...


ChangeList = Sequence[tuple[str, Any, Any]]  # (setting, before, now) of a study run again with other settings


def _change_tags(changes: ChangeList, at_trial: int) -> dict[str, str]:
    """A tag per changed setting: `optflow.change.12.sampler = random -> gp` (from trial 12 on)."""
    return {f"{TAG_CHANGE}.{at_trial}.{name}": f"{before} -> {now}" for name, before, now in changes}


def last_trial_end_ms(study: optuna.Study) -> int | None:
    """When the study's last ended trial ended: the study run's end, however long after it a session stops."""
    ends = [t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    return recovery.ms(max(ends)) if ends else None


def _task_name(config: Config) -> str:
    """What the study trains on: the data set, a data factory, or the own loop's function."""
    return config.objective.function or config.data.factory or config.data.name


def _study_summary(config: Config) -> str:
    study = config.study
    goals = " and ".join(f"{o.direction} `{o.name}`" for o in study.objective_list)
    bounds = f", subject to {', '.join(f'`{c}`' for c in study.constraint_list)}" if study.constraints else ""
    return (
        f"optflow study **{study.name}** ({study.sampler} sampler, {study.n_trials} trials, "
        f"{goals}{bounds} on `{_task_name(config)}`)."
    )


# ------------------------------------------------------------------------------------------------ study


class StudyTracker:
    """The MLflow side of one worker's share of a study: its study run, a child run per trial, the summary."""

    def __init__(self, config: Config, *, tracking_uri: str | None = None, inline: bool = False) -> None:
        import mlflow

        self.config = config
        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self.artifact_dir = str(artifact_dir(config.study.storage, config.study.artifact_dir))
        self._background = Background(inline=inline, where=mask_password(self.tracking_uri))
        self._warm = self._background.submit(mlflow_runs.warm_up)  # the process imports MLflow meanwhile
        self.study_run: StudyRun | None = None
        self.input_example: Any = None  # raw validation rows, logged with models
        self.preprocessing: Any = None
        self._model_uri: Future | None = None
        self._dataset: Any = None
        self._kept = KeptModels(config.study.objective_list)  # with log_models: best
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

    def open(self, study: optuna.Study, data: Dataset | None, changes: ChangeList = (), reopen: bool = True) -> None:
        """The study's MLflow run, found through the study's user attrs or created once; call under the study
        lock, so that of several workers only the first creates it. `changes` are the settings this session
        changed (recorded as tags); `reopen=False` leaves a finished run's status (nothing will run).

        Runs a crashed session left RUNNING for trials that have ended are closed as Optuna holds them.
        """
        if data is not None:  # an own loop loads its data itself
            x, y = data.x_train.numpy(), data.y_train.numpy()
            self._dataset = mlflow_runs.dataset_input(data.name, x, y, data.source)
            self.input_example = data.raw_val[:INPUT_EXAMPLE_ROWS]
            self.preprocessing = data.preprocessing
        config = self.config
        linked = study.user_attrs.get(ATTR_PARENT_RUN_ID)
        opened = self._background.submit(
            mlflow_runs.open_study_run,
            self.tracking_uri,
            study_name=config.study.name,
            experiment_name=config.study.experiment or config.study.name,
            existing_run_id=linked,
            launcher_run_id=os.environ.get("MLFLOW_RUN_ID"),
            tags={
                TAG_OPTFLOW_STUDY: config.study.name,
                TAG_SAMPLER: config.study.sampler,
                TAG_STORAGE: mask_password(config.study.storage),
                **_change_tags(changes, len(study.get_trials(deepcopy=False))),
            },
            params=study_params(config),
            note=self._study_run_note(),
            dataset=self._dataset,
            reopen=reopen,
        )
        try:
            self.study_run = opened.result()
        except Exception:  # noqa: BLE001 - warned about and counted; the study goes on in Optuna
            return
        if linked != self.study_run.run_id:
            study.set_user_attr(ATTR_PARENT_RUN_ID, self.study_run.run_id)
            study.set_user_attr(ATTR_EXPERIMENT_ID, self.study_run.experiment_id)
            study.set_user_attr(ATTR_TRACKING_URI, mask_password(self.tracking_uri))
            link = mlflow_run_link(self.tracking_uri, self.study_run.experiment_id, self.study_run.run_id)
            save_study_note(study, f"{_study_summary(config)}\n\nMLflow study run: {link}")
        elif ended := recovery.ended_trials(study):
            self._background.submit(recovery.repair_trial_runs, self.study_run, ended)

    def _study_run_note(self, best: FrozenTrial | None = None, front: Sequence[FrozenTrial] = ()) -> str:
        """The study run's description in the MLflow UI: what it is, its best trial (or Pareto front), how to see
        the Optuna side."""
        config = self.config
        lines = [_study_summary(config)]
        if front and self.study_run is not None:
            columns = ["trial", *(o.name for o in config.study.objective_list)]
            gap = "\u00a0" * 3  # the MLflow UI draws tables without cell padding: the columns would run together
            header = "| " + " | ".join(f"{name}{gap}" for name in columns) + " |\n|" + "---|" * len(columns)
            lines.append(
                f"Pareto front ({len(front)} trials; their runs carry the tag `{TAG_PARETO}`, the table is "
                f"`study/pareto_front.csv`):\n\n{header}"
            )
            for trial in front:
                run_id = trial.user_attrs.get(ATTR_RUN_ID)
                name = trial_run_name(trial.number)
                cell = f"[{name}]({run_page(self.study_run.experiment_id, run_id)})" if run_id else name
                lines[-1] += f"\n| {cell}{gap} | " + " | ".join(f"{v:.6g}{gap}" for v in trial.values) + " |"
        elif best is not None and self.study_run is not None and ATTR_RUN_ID in best.user_attrs:
            run_link = run_page(self.study_run.experiment_id, best.user_attrs[ATTR_RUN_ID])
            lines.append(
                f"Best trial: [{trial_run_name(best.number)}]({run_link}), {config.study.metric} = "
                f"{first_value(best):.6g}."
            )
        storage = mask_password(config.study.storage)
        lines.append(
            "Each trial is a child run: sort them by `best_val_loss` (or `best_<metric>`). The Optuna side, with "
            f"each trial's loss curve: `optflow dashboard --storage {storage} --artifact-dir {self.artifact_dir}`."
        )
        return "\n\n".join(lines)

    def trial_run(
        self, trial: optuna.Trial, params: Mapping[str, Any], config: Config, device: str = ""
    ) -> TrialRun | NullTrialRun:
        """Start the trial's child run (in the tracking process) with `config`, the trial's resolved config, and
        the device it trains on (tagged when given)."""
        if self.study_run is None:  # the study run could not be opened: nothing of this trial reaches MLflow
            self._unlogged += 1
            return NullTrialRun(trial, config)
        tags = {
            TAG_STUDY_NAME: self.config.study.name,
            TAG_TRIAL_NUMBER: str(trial.number),
            TAG_SEARCHED: ",".join(params),
            TAG_WORKER: WORKER_ID,
        }
        if device:
            tags[TAG_DEVICE] = device
        retried = trial_system_attrs(trial).get(SYSTEM_ATTR_RETRY_OF)  # set by Optuna's retry of a dead worker
        if retried is not None:
            tags[TAG_RETRY_OF] = str(retried)
        start = system_metrics.start_monitored_run if self.config.study.system_metrics else mlflow_runs.start_run
        created = self._background.submit(
            start,
            self.tracking_uri,
            self.study_run.experiment_id,
            trial_run_name(trial.number),
            run_params(config),
            tags,
            self._dataset,
            self.study_run.run_id,
            start_ms=int(time.time() * 1000),  # now, in the trial's process; the run may be made later
        )
        run = TrialRun(self, trial, created, config)
        self._trial_runs.append(run)
        return run

    def keep_model(self, outcome: TrialOutcome, run_id: str, model: torch.nn.Module | None) -> bytes | None:
        """The model bytes to log with this trial's run now (`log_models: all`); with `best`, a model that may
        be logged at the end is kept until then instead."""
        policy = self.config.study.log_models
        if not outcome.complete or model is None or policy == "none":
            return None
        if policy == "best":
            self._kept.offer(outcome, run_id, lambda: serialize_model(model))
            return None
        return serialize_model(model)

    def close_stale_run(self, trial: FrozenTrial, reason: str) -> None:
        """Optuna's heartbeat found a dead worker's trial: close its run as FAILED with the reason."""
        if self.study_run is not None:
            run_id = trial.user_attrs.get(ATTR_RUN_ID)
            end = recovery.ms(trial.datetime_complete)
            self._background.submit(recovery.fail_stale_run, self.study_run, trial.number, run_id, reason, end)

    def finish_study(self, study: optuna.Study, lock: StudyLockLike) -> None:
        """The study's budget is spent: log the best model if this worker holds it, and the summary once.

        The summary is marked as written only once it is stored, so that an interrupt or a tracking failure
        during it leaves the next session to write it.
        """
        if self.study_run is None:
            return
        best, study_best = self._kept.best, best_trial(study)
        if best is not None and study_best is not None and study_best.number == best.trial_number:  # else another
            self._model_uri = self._log_kept(best, register=True)  # worker holds it
        front = pareto_trials(study) if self.config.study.multi_objective else []
        for trial in front[: self.config.study.pareto_models]:  # the models this worker holds of the front
            kept = self._kept.of_trial(trial.number)
            if kept is not None:
                first = trial.number == front[0].number
                future = self._log_kept(kept, register=first)
                if first:
                    self._model_uri = future
        from optflow.tracking.summary import study_summary_files

        with lock.held():  # the first worker to finish the study writes its summary, not each
            n_trials = len(study.get_trials(deepcopy=False))
            if study_system_attrs(study).get(SYSTEM_ATTR_SUMMARY) == n_trials:
                return
            files = study_summary_files(study, self.config)
            best_tags = {MLFLOW_RUN_NOTE: self._study_run_note(study_best, front)}
            if study_best is not None and ATTR_RUN_ID in study_best.user_attrs:
                best_tags[TAG_BEST_RUN] = study_best.user_attrs[ATTR_RUN_ID]
            self._tag_pareto_runs(study, front)
            stored = self._background.submit(
                mlflow_runs.log_study_artifacts, self.study_run, files, best_tags, always=True
            )
            if stored.exception() is None:  # waits for it; a failure is warned about and counted
                set_study_system_attr(study, SYSTEM_ATTR_SUMMARY, n_trials)

    def adopt_best_model(self, study: optuna.Study, registrable: Collection[int] = ()) -> None:
        """When this worker logged no best model: the one an earlier session or another worker logged in the best
        trial's run becomes `model_uri`, and is registered under `register_model` (unless it already is) when the
        best trial is one of `registrable`, trials that ended before this session (no worker of it is logging
        their models)."""
        best = best_trial(study)
        if self._model_uri is not None or self.study_run is None or best is None or ATTR_RUN_ID not in best.user_attrs:
            return
        register = self.config.study.register_model if best.number in registrable else ""
        self._model_uri = self._background.submit(
            find_logged_model, self.tracking_uri, best.user_attrs[ATTR_RUN_ID], register
        )

    def _log_kept(self, kept: KeptModel, register: bool) -> Future:
        """Log a kept model into its trial's run (read from its file in the tracking process; `close` removes
        the files only after that process is done), registered under `register_model` when `register`."""
        registered_name = self.config.study.register_model if register else ""
        path, example = str(kept.path), self.input_example
        return self._background.submit(
            log_model_file, self.tracking_uri, kept.run_id, path, self.preprocessing, example, registered_name
        )

    def _tag_pareto_runs(self, study: optuna.Study, front: Sequence[FrozenTrial]) -> None:
        """`optflow.pareto = true` on the front's runs, `false` on those an earlier session tagged and that are
        dominated now (a resumed study's front moves)."""
        current = {t.user_attrs[ATTR_RUN_ID] for t in front if ATTR_RUN_ID in t.user_attrs}
        before = set(study_system_attrs(study).get(SYSTEM_ATTR_PARETO_RUNS, []))
        tags = {run_id: {TAG_PARETO: "true"} for run_id in current}
        tags.update({run_id: {TAG_PARETO: "false"} for run_id in before - current})
        if tags:
            self._background.submit(mlflow_runs.tag_runs, self.tracking_uri, tags)
            set_study_system_attr(study, SYSTEM_ATTR_PARETO_RUNS, sorted(current))

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
    """`--no-tracking`: no MLflow at all; each trial still gets its worker attr and its optuna-dashboard note."""

    tracking_uri = None
    study_run: StudyRun | None = None
    study_run_id = None

    def ready(self) -> None:
        pass

    def open(self, study: optuna.Study, data: Dataset | None, changes: ChangeList = (), reopen: bool = True) -> None:
        pass

    def trial_run(
        self, trial: optuna.Trial, params: Mapping[str, Any], config: Config, device: str = ""
    ) -> NullTrialRun:
        return NullTrialRun(trial, config)

    def close_stale_run(self, trial: FrozenTrial, reason: str) -> None:
        pass

    def finish_study(self, study: optuna.Study, lock: StudyLockLike) -> None:
        pass

    def adopt_best_model(self, study: optuna.Study, registrable: Collection[int] = ()) -> None:
        pass

    def close(self, status: str | None, if_changed: bool = False, end_ms: int | None = None) -> int:
        return 0

    model_uri = None
