"""The models one worker keeps to log when the study ends (`log_models: best`): its best trial's, or with several
objectives those of its trials that no other of its trials dominates (the study's Pareto front, known only at
the end, is among them).

They wait in a temporary folder (under TMPDIR), not in memory: a front of twenty transformers would not fit beside
the one in training. The folder goes when the tracker closes (or the process exits). A model that cannot be
written (a full disk) is warned about and not logged; the trial and the study go on.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optflow.config.objectives import MetricGoal
from optflow.records import TrialOutcome
from optflow.urls import brief_error

logger = logging.getLogger("optflow")


@dataclass(frozen=True)
class KeptModel:
    """One trial's serialised model, on disk until it is logged."""

    trial_number: int
    run_id: str
    path: Path
    logged_with: tuple[Any, Any] = (None, None)  # the preprocessing and input example it is logged with


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """`a` is at least as good as `b` everywhere and better somewhere (values signed to be maximised)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and a != b


class KeptModels:
    """The models this worker may log at the end: `offer` each complete trial's, ask `best` or `of_trial` when
    the study is over, `discard` when done."""

    def __init__(self, goals: Sequence[MetricGoal]) -> None:
        self._signs = [1.0 if goal.direction == "maximize" else -1.0 for goal in goals]
        self._names = [goal.name for goal in goals]
        self._folder: tempfile.TemporaryDirectory | None = None
        self._best: KeptModel | None = None
        self._undominated: dict[int, tuple[tuple[float, ...], KeptModel]] = {}

    @property
    def best(self) -> KeptModel | None:
        """One objective: the model of this worker's last trial that improved the study's best."""
        return self._best

    def of_trial(self, number: int) -> KeptModel | None:
        """Several objectives: the trial's model, if this worker trained it and none of its trials dominates it."""
        kept = self._undominated.get(number)
        return kept[1] if kept else None

    def offer(
        self,
        outcome: TrialOutcome,
        run_id: str,
        serialize: Callable[[], bytes],
        logged_with: tuple[Any, Any] = (None, None),
    ) -> None:
        """Keep a complete trial's model if it may be logged at the end; `serialize` runs only then.
        `logged_with` is its data's preprocessing and input example, logged with it."""
        if not outcome.complete:
            return
        if len(self._names) == 1:
            if outcome.improved:
                previous, self._best = self._best, self._write(outcome.number, run_id, serialize, logged_with)
                if previous is not None:  # an older best, never logged now
                    previous.path.unlink(missing_ok=True)
            return
        if not outcome.feasible:
            return
        values = tuple(sign * outcome.measures[name] for sign, name in zip(self._signs, self._names, strict=True))
        if any(_dominates(other, values) for other, _ in self._undominated.values()):
            return
        for number, (other, kept) in list(self._undominated.items()):
            if _dominates(values, other):
                kept.path.unlink(missing_ok=True)
                del self._undominated[number]
        written = self._write(outcome.number, run_id, serialize, logged_with)
        if written is not None:
            self._undominated[outcome.number] = (values, written)

    def discard(self) -> None:
        """Remove the folder and what is in it."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self._best, self._undominated = None, {}

    def _write(
        self, number: int, run_id: str, serialize: Callable[[], bytes], logged_with: tuple[Any, Any]
    ) -> KeptModel | None:
        try:
            if self._folder is None:
                self._folder = tempfile.TemporaryDirectory(prefix="optflow-models-")
            path = Path(self._folder.name) / f"trial-{number}.model"
            path.write_bytes(serialize())
        except OSError as error:
            logger.warning("could not keep trial %d's model to log at the end (%s)", number, brief_error(error))
            return None
        return KeptModel(number, run_id, path, logged_with)
