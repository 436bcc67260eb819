"""A study's checkpoints: which file a trial trains from, which interrupted trials a new session runs again, and
which files can go.

A trial's checkpoint is named after the trial it continues: the dead worker's trial that a retry stands in for
(Optuna's `failed_trial` system attr), the interrupted trial that a rerun resumes (optflow's `resume_of` user
attr), else its own number. The files live in the study's artifact store, `<artifact_dir>/checkpoints/<study>/`,
which workers on several machines share. One file per trial, replaced in place; once a trial has ended for good
its file goes, except the best trial's final one and those of interrupted trials a rerun will resume, so a
study holds at most one file per running or interrupted trial plus the best.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

import optuna
from optuna.trial import FrozenTrial, TrialState

from optflow.config import Config
from optflow.contract import ATTR_INTERRUPTED, ATTR_RESUME_OF, SYSTEM_ATTR_RETRY_OF
from optflow.search.optuna_private import trial_system_attrs
from optflow.tracking.dashboard import artifact_dir

SUFFIX = ".pt"


def checkpoint_dir(config: Config) -> Path | None:
    """Where the study's checkpoints live; None when its trials write none (turned off, or an own loop)."""
    if config.training.checkpoint_every == 0 or config.own_loop:
        return None
    store = artifact_dir(config.study.storage, config.study.artifact_dir)
    return store / "checkpoints" / quote(config.study.name, safe="")


def checkpoint_path(directory: Path, key: int) -> Path:
    return directory / f"trial-{key:04d}{SUFFIX}"


def trial_key(trial: optuna.Trial | FrozenTrial) -> int:
    """The number of the trial whose checkpoint this one trains from (its own, unless it continues another)."""
    resumed = trial.user_attrs.get(ATTR_RESUME_OF)
    if resumed is not None:
        return int(resumed)
    system = trial.system_attrs if isinstance(trial, FrozenTrial) else trial_system_attrs(trial)
    return int(system.get(SYSTEM_ATTR_RETRY_OF, trial.number))


def _latest_by_key(trials: list[FrozenTrial]) -> dict[int, FrozenTrial]:
    latest: dict[int, FrozenTrial] = {}
    for trial in trials:  # in number order: the last one of a key is the one that continues it
        latest[trial_key(trial)] = trial
    return latest


def _awaits_rerun(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(ATTR_INTERRUPTED))


def requeue_interrupted(study: optuna.Study, directory: Path, room: int) -> list[int]:
    """Queue interrupted trials that left a checkpoint (the first `room` of them), with their params, to resume;
    the keys queued.

    Call it under the study lock: two workers starting at once must not queue one trial twice. An interrupted
    trial spends no budget (`spends_budget`), so the queued one takes its place in the count.
    """
    queued = []
    for key, trial in _latest_by_key(study.get_trials(deepcopy=False)).items():
        if len(queued) < room and _awaits_rerun(trial) and checkpoint_path(directory, key).is_file():
            study.enqueue_trial(trial.params, user_attrs={ATTR_RESUME_OF: key})
            queued.append(key)
    return queued


def remove_finished(study: optuna.Study, directory: Path) -> None:
    """Delete the checkpoints no trial will train from again, keeping the best trial's final one."""
    if not directory.is_dir():
        return
    keep = set()
    for key, trial in _latest_by_key(study.get_trials(deepcopy=False)).items():
        if trial.state in (TrialState.RUNNING, TrialState.WAITING) or _awaits_rerun(trial):
            keep.add(key)
    with suppress(ValueError):  # no complete trial yet
        keep.add(trial_key(study.best_trial))
    for path in directory.iterdir():
        name = path.name.lstrip(".")  # a partial file of a killed write: `.trial-0003.pt.<pid>.partial`
        if name.startswith("trial-") and SUFFIX in name:
            key = int(name.removeprefix("trial-").split(".", 1)[0])
            if key not in keep:
                path.unlink(missing_ok=True)


def disk_use(directory: Path | None) -> int:
    """Bytes the study's checkpoints take."""
    if directory is None or not directory.is_dir():
        return 0
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file())
