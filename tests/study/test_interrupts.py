"""Deferred signals: Ctrl-C or SIGTERM stop a trial only where it can end cleanly."""

from __future__ import annotations

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
