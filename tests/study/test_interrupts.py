"""Deferred signals: Ctrl-C or SIGTERM stop a trial only where it can end cleanly."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from optflow.study import interrupts


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


@pytest.mark.parametrize("ending", ["returns", "is interrupted"])
def test_a_launch_of_workers_leaves_no_signal_listener_behind(monkeypatch, ending):
    """`optflow.tune(config, workers=2)` twice in one process: each launch forwards signals to its own workers
    only while it runs, so no dead forwarder of an earlier launch is told of later signals."""
    from types import SimpleNamespace

    from optflow.config import Config
    from optflow.study import workers
    from optflow.study.options import RunOptions

    def run_study(config, options, on_ready=None):  # the budget already spent: no worker is started
        if ending == "is interrupted":
            raise KeyboardInterrupt
        return SimpleNamespace(already_spent=True)

    monkeypatch.setattr(workers, "run_study", run_study)
    for _ in range(2):
        with contextlib.suppress(KeyboardInterrupt):
            workers.run_workers(Config(), RunOptions(tracking=False, workers=2))
        assert interrupts._listeners == []
