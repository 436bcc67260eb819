"""What a proposal should improve: the acquisition built from the fitted objective and constraint models.

- One objective: log EI over the best posterior mean among the feasible observed points (the "plug-in"
  incumbent, robust to one lucky noisy value).
- Two or three: log EHVI over the Pareto front of the feasible observed points, with the reference point a
  tenth of each objective's observed range below its worst observed value, feasible or not (outputs are
  transformed to "higher is better", so the front is a maximisation front).
- Constraints add log PoF; while no observed point is feasible, finding one is the whole goal (log PoF alone,
  as Gardner et al. 2014 and Optuna's GPSampler do).
- Running trials are believed at the posterior mean of every model (kriging believer) before the
  acquisition is built; the incumbent, front and reference stay those of the finished trials.
"""

from __future__ import annotations

import numpy as np

from optflow.search.samplers.gp.acqf import Acquisition, LogEI, LogPoF, SumOf
from optflow.search.samplers.gp.ehvi import LogEHVI
from optflow.search.samplers.gp.gp import GaussianProcess
from optflow.search.samplers.gp.pareto import non_dominated

REFERENCE_MARGIN = 0.1  # of each objective's observed range


def _believe(gp: GaussianProcess, running: np.ndarray) -> GaussianProcess:
    return gp.condition_on(running, gp.mean(running)) if len(running) else gp


class Goal:
    """The acquisition of one proposal. Y (n, M) are the transformed objective values of the observed points
    X (n, d); `feasible` (n,) says which satisfied every constraint."""

    def __init__(
        self,
        objectives: list[GaussianProcess],
        constraints: list[GaussianProcess],
        thresholds: np.ndarray,
        X: np.ndarray,
        Y: np.ndarray,
        feasible: np.ndarray,
    ) -> None:
        self.objectives, self.constraints, self.thresholds = objectives, constraints, thresholds
        self.Y, self.feasible = Y, feasible
        self.incumbent, self.front, self.reference = None, None, None
        if not feasible.any():
            return
        if len(objectives) == 1:
            self.incumbent = float(objectives[0].mean(X[feasible]).max())
        else:
            feasible_Y = Y[feasible]
            self.front = feasible_Y[non_dominated(feasible_Y)]
            # From every observed point, not only the feasible ones: a reference point just below the feasible
            # points found so far would give the other feasible regions no improvement at all.
            worst, best = Y.min(axis=0), Y.max(axis=0)
            self.reference = worst - REFERENCE_MARGIN * np.maximum(best - worst, 1e-6)

    def acquisition(self, running: np.ndarray) -> Acquisition:
        """The log acquisition to maximise, with the running trials' model inputs (r, d) believed."""
        feasibility = LogPoF([_believe(gp, running) for gp in self.constraints], self.thresholds)
        if not self.feasible.any():
            return feasibility
        objectives = [_believe(gp, running) for gp in self.objectives]
        if self.incumbent is not None:
            improvement = LogEI(objectives[0], self.incumbent)
        else:
            improvement = LogEHVI(objectives, self.front, self.reference)
        return SumOf(improvement, feasibility) if self.constraints else improvement

    def anchor_order(self, rng: np.random.RandomState) -> np.ndarray:
        """Observed points, best first, whose neighbourhoods the acquisition's search screens: feasible before
        infeasible; then the best value (one objective) or the Pareto front in random order (several)."""
        if self.Y.shape[1] == 1:
            return np.lexsort((-self.Y[:, 0], ~self.feasible))
        on_front = np.zeros(len(self.Y), dtype=bool)
        if self.feasible.any():
            indices = np.flatnonzero(self.feasible)
            on_front[indices[non_dominated(self.Y[indices])]] = True
        shuffle = rng.permutation(len(self.Y))
        return shuffle[np.lexsort((-self.Y[shuffle].sum(axis=1), ~self.feasible[shuffle], ~on_front[shuffle]))]
