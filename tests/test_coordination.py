"""The pieces that let workers share a study: per-trial seeds, the exact grid, the study lock, deferred signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from optflow import interrupts
from optflow.budget import FAIL_REASON_ATTR, trials_used
from optflow.config import build_config
from optflow.samplers import make_sampler
from optflow.space import grid_size, suggest
from optflow.storage import StudyLock, _lock_key

SPACE = {
    "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}
GRID = {
    "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True, "grid": [0.01, 0.1, 0.5]},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
}


def ask_params(study: optuna.Study, config) -> tuple[optuna.Trial, dict]:
    trial = study.ask()
    return trial, suggest(trial, config)


@pytest.mark.parametrize("name", ["random", "tpe", "gp"])
def test_two_workers_with_one_seed_draw_different_points_and_a_trial_number_fixes_its_point(name):
    """Two samplers built with the same seed (two worker processes) sampling at the same moment."""
    config = build_config({"search": SPACE})
    storage = optuna.storages.InMemoryStorage()
    worker_a = optuna.create_study(storage=storage, study_name="s", sampler=make_sampler(name, 7, config.search))
    worker_b = optuna.load_study(storage=storage, study_name="s", sampler=make_sampler(name, 7, config.search))
    _, first = ask_params(worker_a, config)
    _, second = ask_params(worker_b, config)  # trial 0 still running
    assert first != second

    alone = optuna.create_study(sampler=make_sampler(name, 7, config.search))  # one worker, same seed
    assert [ask_params(alone, config)[1] for _ in range(2)] == [first, second]


def test_exact_grid_reruns_an_interrupted_point_and_never_gives_a_held_point_twice():
    config = build_config({"search": GRID})
    study = optuna.create_study(sampler=make_sampler("grid", 0, config.search))
    size = grid_size(config.search)
    running, held = ask_params(study, config)  # stays RUNNING: its point is held
    interrupted, lost = ask_params(study, config)
    study.tell(interrupted, state=TrialState.FAIL)  # Ctrl-C: no fail reason, the point is free again
    diverged, spent = ask_params(study, config)
    diverged.set_user_attr(FAIL_REASON_ATTR, "diverged: loss is nan")
    study.tell(diverged, state=TrialState.FAIL)  # failed by itself: its point is spent
    seen = [held, spent]
    while trials_used(study.get_trials()) < size:
        trial, params = ask_params(study, config)
        study.tell(trial, 1.0)
        seen.append(params)
    as_tuples = [tuple(sorted(p.items())) for p in seen]
    assert len(as_tuples) == size == len(set(as_tuples))  # every point once, the interrupted one included
    assert lost in seen[1:]  # given to a later trial (here the very next one)
    assert running.number == 0 and study.get_trials()[0].state == TrialState.RUNNING


def test_sqlite_study_lock_excludes_another_process(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "except BlockingIOError:\n    print('held')\n"
    )
    lock = StudyLock(url, "study")

    def other_process_sees() -> str:
        path = f"{tmp_path}/optuna.db.optflow-lock"
        return subprocess.run([sys.executable, "-c", probe, path], capture_output=True, text=True).stdout.strip()

    with lock.held():
        assert other_process_sees() == "held"
    assert other_process_sees() == "free"
    lock.release()  # releasing twice is harmless (the objective and the run loop both release)


@pytest.mark.slow
def test_postgres_study_lock_is_an_advisory_lock_per_study(postgres_url):
    import sqlalchemy

    lock = StudyLock(postgres_url, "study-a")
    engine = sqlalchemy.create_engine(postgres_url)

    def try_lock(study: str) -> bool:
        with engine.connect() as connection:
            taken = connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(study)})
            got = bool(taken.scalar())
            if got:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(study)})
            return got

    with lock.held():
        assert not try_lock("study-a")
        assert try_lock("study-b")  # other studies go on
    assert try_lock("study-a")
    lock.close()
    engine.dispose()


@pytest.fixture
def deferring_sigterm():
    previous = signal.getsignal(signal.SIGTERM)
    interrupts.install(signal.SIGTERM)
    yield lambda: os.kill(os.getpid(), signal.SIGTERM)
    signal.signal(signal.SIGTERM, previous)


def test_a_signal_during_bookkeeping_is_raised_when_it_ends(deferring_sigterm):
    steps = []
    with pytest.raises(KeyboardInterrupt), interrupts.protected():
        deferring_sigterm()
        steps.append("bookkeeping finished")
    assert steps == ["bookkeeping finished"]


def test_a_signal_is_raised_at_once_inside_training_or_when_training_starts(deferring_sigterm):
    steps = []
    with pytest.raises(KeyboardInterrupt), interrupts.protected():
        deferring_sigterm()  # before the training loop: noted
        steps.append("run started")
        with interrupts.interruptible():
            steps.append("never trained")
    assert steps == ["run started"]


def test_a_second_signal_is_raised_at_once(deferring_sigterm):
    steps = []
    with pytest.raises(KeyboardInterrupt), interrupts.protected():
        deferring_sigterm()
        deferring_sigterm()
        steps.append("not reached")
    assert steps == []


def test_stale_trial_callback_says_whether_the_dead_trial_is_retried():
    from optflow.storage import MAX_RETRIES, StaleTrialCallback

    study = optuna.create_study()
    reasons: list[str] = []
    callback = StaleTrialCallback()
    callback.on_stale = lambda trial, reason: reasons.append(reason)
    for history in ([], [0], [0, 1]):  # the original trial, its first retry, its second retry
        attrs = {"failed_trial": 0, "retry_history": list(history)} if history else {}
        study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, system_attrs=attrs))
        callback(study, study.trials[-1])
    assert [r.endswith("retried as a new trial") for r in reasons] == [True, True, False]
    assert reasons[-1].endswith(f"({MAX_RETRIES} retries used)")
    assert sum(t.state == TrialState.WAITING for t in study.trials) == MAX_RETRIES
