"""Which models a worker keeps for the end of a study, and that they wait on disk, not in memory."""

from __future__ import annotations

from pathlib import Path

from optflow.config.objectives import MetricGoal
from optflow.records import TrialOutcome
from optflow.tracking.kept_models import KeptModels

LOSS_AND_SIZE = [MetricGoal("val_loss", "minimize"), MetricGoal("val_accuracy", "maximize")]


def outcome(number: int, loss: float, accuracy: float = 0.0, **kwargs) -> TrialOutcome:
    measures = {"val_loss": loss, "val_accuracy": accuracy}
    return TrialOutcome(number=number, state="COMPLETE", value=loss, records=(), measures=measures, **kwargs)


def model_bytes(number: int):
    return lambda: f"model of trial {number}".encode()


def test_one_objective_keeps_only_the_last_improving_trials_model_on_disk():
    kept = KeptModels([MetricGoal("val_loss", "minimize")])
    serialised = []
    kept.offer(outcome(0, 0.5, improved=True), "run0", lambda: serialised.append(0) or b"zero")
    first = kept.best
    kept.offer(outcome(1, 0.7), "run1", lambda: serialised.append(1) or b"one")  # no better: not even serialised
    kept.offer(outcome(2, 0.3, improved=True), "run2", lambda: serialised.append(2) or b"two")
    assert serialised == [0, 2]
    assert (kept.best.trial_number, kept.best.run_id, kept.best.path.read_bytes()) == (2, "run2", b"two")
    assert not first.path.exists()  # the replaced best's file went
    folder = kept.best.path.parent
    assert [path.name for path in folder.iterdir()] == ["trial-2.model"]
    kept.discard()
    assert not folder.exists() and kept.best is None


def test_several_objectives_keep_the_models_no_other_trial_dominates():
    kept = KeptModels(LOSS_AND_SIZE)
    kept.offer(outcome(0, 0.5, 0.80), "run0", model_bytes(0))
    kept.offer(outcome(1, 0.4, 0.70), "run1", model_bytes(1))  # a trade-off with 0: both stay
    kept.offer(outcome(2, 0.6, 0.60), "run2", model_bytes(2))  # dominated by 0: never written
    kept.offer(outcome(3, 0.3, 0.75), "run3", model_bytes(3))  # dominates 1: its file goes
    kept.offer(outcome(4, 0.1, 0.99, feasible=False), "run4", model_bytes(4))  # breaks a constraint
    kept.offer(TrialOutcome(number=5, state="PRUNED", value=None, records=()), "run5", model_bytes(5))
    assert [n for n in range(6) if kept.of_trial(n)] == [0, 3]
    assert kept.of_trial(3).path.read_bytes() == b"model of trial 3"
    folder: Path = kept.of_trial(0).path.parent
    assert sorted(path.name for path in folder.iterdir()) == ["trial-0.model", "trial-3.model"]
    assert kept.best is None  # one objective's notion
    kept.discard()
    assert not folder.exists()


def test_a_model_that_cannot_be_written_is_warned_about_and_the_trial_goes_on(monkeypatch, caplog):
    kept = KeptModels(LOSS_AND_SIZE)

    def full_disk(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    kept.offer(outcome(0, 0.5, 0.80), "run0", model_bytes(0))  # raises nothing
    assert kept.of_trial(0) is None
    assert "could not keep trial 0's model to log at the end" in caplog.text and "No space left" in caplog.text
    kept.discard()
