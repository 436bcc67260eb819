"""The study lock: an flock beside SQLite, a PostgreSQL advisory lock per study."""

from __future__ import annotations

import subprocess
import sys

import pytest

from optflow.study.lock import StudyLock, _lock_key


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
