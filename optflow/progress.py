"""What a terminal shows while a study runs: a line per ended trial, under a progress bar for one worker or
prefixed with its worker for several, and the one-line notices. The study calls these back (`ProgressReporter`)."""

from __future__ import annotations

import math
import sys
from typing import Any

from optflow.config import Config
from optflow.records import TrialOutcome
from optflow.study.options import SilentReporter


def trial_line(outcome: TrialOutcome) -> str:
    """One line per ended trial: state, value, the study's best so far, epochs, params, and why it stopped."""
    value = outcome.value
    shown = f"{value:.4f}" if value is not None and math.isfinite(value) else "-"
    best = f"{outcome.study_best:.4f}" if outcome.study_best is not None else "-"
    params = ", ".join(f"{k}={_short(v)}" for k, v in outcome.params.items())
    head = f"trial {outcome.number:4d} {outcome.state:8s} value={shown:>8s} best={best:>8s}"
    why = f"  ({outcome.reason})" if outcome.reason and outcome.state != "PRUNED" else ""
    return f"{head} epochs={len(outcome.records):3d}  {params}{why}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class Notices(SilentReporter):
    """`--quiet`: only the one-line notices (a changed sampler or budget), on stderr; remembers which trials an
    interrupt stopped, for the last words."""

    def __init__(self) -> None:
        self.interrupted: list[int] = []

    def notice(self, text: str) -> None:
        print(f"optflow: {text}", file=sys.stderr, flush=True)

    def trial_ended(self, outcome: TrialOutcome, worker: str) -> None:
        if outcome.interrupted:
            self.interrupted.append(outcome.number)


class ProgressBar(Notices):
    """One worker in a terminal: a progress bar over the budget, a line per trial above it. Where stderr is no
    terminal (a log file, CI), only the lines: a bar's frames would fill the log."""

    def __init__(self) -> None:
        super().__init__()
        self._bar: Any = None
        self._metric = ""

    def start(self, config: Config, total: int, done: int) -> None:
        from tqdm import tqdm

        self._metric = config.study.metric
        self._bar = tqdm(total=total, initial=done, unit="trial", desc=config.study.name, disable=None)

    def progress(self, done: int) -> None:
        self._bar.n = done
        self._bar.refresh()

    def trial_ended(self, outcome: TrialOutcome, worker: str) -> None:
        super().trial_ended(outcome, worker)
        self._bar.write(trial_line(outcome))
        if outcome.study_best is not None:
            self._bar.set_postfix_str(f"best {self._metric} {outcome.study_best:.4g}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class TrialLines(Notices):
    """Several workers: a line per trial, prefixed with the worker that ran it (no bar to fight over)."""

    def trial_ended(self, outcome: TrialOutcome, worker: str) -> None:
        super().trial_ended(outcome, worker)
        print(f"[{worker}] {trial_line(outcome)}", flush=True)
