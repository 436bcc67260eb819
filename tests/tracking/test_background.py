"""The tracking executor: a failure cools down only the session that saw it."""

from __future__ import annotations

import pytest

from optflow.tracking.background import Background, TrackingSkipped


def fail() -> None:
    raise ConnectionError("store down")


def test_a_failure_skips_later_calls_of_its_own_session_only():
    first, second = Background(inline=True), Background(inline=True)
    assert first.submit(fail).exception() is not None and first.failures == 1
    with pytest.raises(TrackingSkipped):
        first.submit(int, "1").result()  # the store failed moments ago: skipped
    assert first.submit(int, "2", always=True).result() == 2  # a session's last calls are tried anyway
    assert second.submit(int, "3").result() == 3  # another study in the same process is not held back
