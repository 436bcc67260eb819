"""A study's checkpoints: which file a trial trains from, which interrupted trials are queued again, and which
files can go.

A trial's checkpoint is named after the trial it continues: the dead worker's trial that a retry stands in for
(Optuna's `retried_trial_number`), the interrupted trial that a rerun resumes (optflow's `resume_of` user
attr), else its own number. The files live in the study's artifact store, `<artifact_dir>/checkpoints/<study>/`,
which workers on several machines share. One file per trial, replaced in place; once a trial has ended for good
its file goes, except the best trial's final one, so a study holds at most one file per running, lost or
interrupted trial plus the best. A checkpoint names its study by a token stored in the study when it was made,
so the file of a deleted and re-made study of the same name is never resumed from.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import optuna
from optuna.trial import FrozenTrial, TrialState

from optflow.config import Config
from optflow.contract import ATTR_FAIL_REASON, ATTR_INTERRUPTED, ATTR_RESUME_OF
from optflow.errors import UsageError
from optflow.search.optuna_private import retried_trial_number, set_study_system_attr, study_system_attrs
from optflow.search.ranking import best_trial
from optflow.study.identity import RUNTIME_FIELDS
from optflow.study.interrupts import clean_point
from optflow.tracking.dashboard import artifact_dir
from optflow.training import resolve_device
from optflow.training.checkpoint import TrialCheckpoint

SUFFIX = ".pt"
TOKEN_ATTR = "optflow:checkpoint_token"  # study system attr: names the study in its checkpoints


def checkpoint_dir(config: Config, name: str = "") -> Path | None:
    """Where the study's checkpoints live (or those of `name`, e.g. `optflow train`'s), made now; None when its
    trials write none (turned off, or an own loop). A directory that cannot be made is bad input, refused before
    anything else is made."""
    if config.training.checkpoint_every == 0 or config.own_loop:
        return None
    directory = artifact_dir(config.study.storage, config.study.artifact_dir) / "checkpoints"
    directory = directory / quote(name or config.study.name, safe="")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"study.artifact_dir must be a directory optflow can write (checkpoints go to {str(directory)!r}), or "
            f"set training.checkpoint_every to 0; got {error.strerror}"
        ) from None
    return directory


def checkpoint_path(directory: Path, key: int) -> Path:
    return directory / f"trial-{key:04d}{SUFFIX}"


def trial_key(trial: optuna.Trial | FrozenTrial) -> int:
    """The number of the trial whose checkpoint this one trains from (its own, unless it continues another)."""
    resumed = trial.user_attrs.get(ATTR_RESUME_OF)
    if resumed is not None:
        return int(resumed)
    retried = retried_trial_number(trial)
    return int(retried) if retried is not None else trial.number


def study_token(study: optuna.Study) -> str:
    """The study's checkpoint token, made on first use (call it under the study lock)."""
    token = study_system_attrs(study).get(TOKEN_ATTR)
    if token is None:
        token = uuid.uuid4().hex
        set_study_system_attr(study, TOKEN_ATTR, token)
    return str(token)


@dataclass(frozen=True)
class StudyCheckpoints:
    """One study's checkpoint directory and token: each trial's `TrialCheckpoint` from it."""

    directory: Path
    token: str

    def for_trial(self, trial: optuna.Trial, config: Config) -> TrialCheckpoint:
        """The trial's checkpoints, named after the trial it continues and bound to what it trains (`bound_to`)."""
        path = checkpoint_path(self.directory, trial_key(trial))
        return TrialCheckpoint(
            path, config.training.checkpoint_every, bound_to(self.token, config), clean_point=clean_point
        )


def training_checkpoint(directory: Path, config: Config) -> TrialCheckpoint:
    """`optflow train`'s checkpoint: a file named by what it trains (`train-<digest>.pt`), so that runs of other
    configs never share it, resumed from by a rerun of the same config after an interrupt."""
    identity = bound_to("train", config)
    digest = hashlib.sha256(repr(sorted(identity.items())).encode()).hexdigest()[:12]
    path = directory / f"train-{digest}{SUFFIX}"
    return TrialCheckpoint(path, config.training.checkpoint_every, identity, clean_point=clean_point)


def bound_to(owner: str, config: Config) -> dict[str, object]:
    """What a checkpoint must have been trained on to be resumed from: its owner (a study's token), the model,
    data and training setup with the trial's params, and the device type (a generator's state does not move
    between CPU and GPU). Runtime fields (threads, loaders) may change between sessions."""
    training = {k: v for k, v in asdict(config.training).items() if k not in RUNTIME_FIELDS}
    return {
        "study": owner,
        "model": asdict(config.model),
        "data": asdict(config.data),
        "training": training,
        "device": resolve_device(config.training.device).type,
    }


def _latest_by_key(trials: list[FrozenTrial]) -> dict[int, FrozenTrial]:
    latest: dict[int, FrozenTrial] = {}
    for trial in trials:  # in number order: the last one of a key is the one that continues it
        latest[trial_key(trial)] = trial
    return latest


def _awaits_rerun(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(ATTR_INTERRUPTED))


def _may_continue(trial: FrozenTrial) -> bool:
    """Running or queued, or failed without a fault of its own: interrupted (a rerun resumes it) or lost to a
    dead worker (the heartbeat queues its retry a moment after failing it)."""
    if trial.state in (TrialState.RUNNING, TrialState.WAITING):
        return True
    return trial.state == TrialState.FAIL and ATTR_FAIL_REASON not in trial.user_attrs


def requeue_interrupted(
    study: optuna.Study, directory: Path, room: int, trials: list[FrozenTrial] | None = None
) -> list[int]:
    """Queue interrupted trials that left a checkpoint (the first `room` of them), with their params, to resume;
    the keys queued. `trials`: the study's trials as just read under the lock (read here if not given).

    Call it under the study lock: two workers must not queue one trial twice. An interrupted trial spends no
    budget (`spends_budget`), so the queued one takes its place in the count.
    """
    queued = []
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    for key, trial in _latest_by_key(trials).items():
        if len(queued) < room and _awaits_rerun(trial) and checkpoint_path(directory, key).is_file():
            study.enqueue_trial(trial.params, user_attrs={ATTR_RESUME_OF: key})
            queued.append(key)
    return queued


def remove_finished(study: optuna.Study, directory: Path, study_over: bool = False) -> None:
    """Delete the checkpoints no trial will train from again, keeping the best trial's final one; once the
    study is over (`study_over`), also those of interrupted and lost trials that nothing will resume.

    Only files of trials this snapshot of the study shows as ended go: a trial that starts meanwhile keeps its
    file, and so does one of a dead worker between its failure and its retry.
    """
    if not directory.is_dir():
        return
    latest = _latest_by_key(study.get_trials(deepcopy=False))
    ended = {key for key, trial in latest.items() if not _may_continue(trial) or study_over}
    best = best_trial(study)
    kept_final = trial_key(best) if best is not None else None
    for path in directory.iterdir():
        partial = path.name.startswith(".")  # a write a kill cut short: `.trial-0003.pt.<random>.partial`
        name = path.name.lstrip(".")
        number = name.removeprefix("trial-").split(".", 1)[0]
        if not (name.startswith("trial-") and number.isdigit() and int(number) in ended):
            continue
        if partial or int(number) != kept_final:  # of the best trial, its whole final file stays
            path.unlink(missing_ok=True)
