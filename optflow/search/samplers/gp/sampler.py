"""`GPSampler`: Gaussian-process Bayesian optimisation behind Optuna's `BaseSampler` seam (glue only).

What goes into the models, and why:
- The trials of `observations.gather`, each objective's values turned to "higher is better" and transformed
  (`outputs.transform_outputs`), one GP per objective and one per constraint.
- Acquisition: log EI for one objective, log EHVI for two or three (`ehvi.py`), plus the log probability of
  feasibility when the trials carry constraints (`acqf.LogPoF`); until some trial is feasible, the
  probability of feasibility alone.
- RUNNING trials of other workers are added with the posterior mean as their value (kriging believer,
  Ginsbourger et al. 2010): the mean is unchanged, the variance there collapses, so the acquisition stops
  pointing at them and parallel workers spread out. A proposal is stored on its trial at once; a worker
  that sees a lower-numbered trial still being sampled assumes it takes the current maximum and looks again
  (without this, two processes sampling at the same moment proposed the same point, see the tests).
- Conditional params are modelled: the relative search space is the union of every param the finished trials
  used, a param a trial left out is inactive there, and a proposal is a full active configuration (see
  `conditional.py`). Only params never seen yet, or seen with two distributions, go to the independent sampler.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optflow.search.optuna_private import set_trial_system_attr, store_constraints, trial_system_attrs
from optflow.search.samplers.gp.conditional import ConditionalSpace, ThroughRules, union_search_space
from optflow.search.samplers.gp.goal import Goal
from optflow.search.samplers.gp.gp import GaussianProcess, fit_hyperparameters
from optflow.search.samplers.gp.observations import gather
from optflow.search.samplers.gp.optim import maximize
from optflow.search.samplers.gp.outputs import standardise, transform_outputs
from optflow.search.samplers.gp.prior import default_prior
from optflow.search.samplers.seeding import TrialSeededSampler, trial_seed

STARTUP_TRIALS = 10  # trials sampled at random before the GP takes over (Optuna's GPSampler uses 10 too)
MAX_OBJECTIVES = 3  # log EHVI's box decomposition grows like k^(M−1) boxes for k Pareto points
PARAMS_ATTR = "optflow_gp:params"  # system attr: a running trial's proposed params, for other workers
N_ANCHORS = 5  # best observed (Pareto-optimal, feasible) points whose neighbourhoods are screened
MAX_PENDING_BELIEVED = 4  # lower-numbered trials still being sampled that are believed at our maximum
# The fit restarts from fixed points on every trial while data are few (the basins still move), then every
# RESTART_EVERY trials; in between the warm start alone: 3x cheaper fits, same regret in sampler_bench.
# Past RESTART_SPACING trials the gap grows with the data (every 10th trial from 120, 15th from 180, ...):
# a hundred more points rarely move the best basin, and the restarts had become half of the fit's cost.
ALWAYS_RESTART_BELOW = 30
RESTART_EVERY = 5
RESTART_SPACING = 60


def _restart_fit(n_observed: int) -> bool:
    """Whether the fit also starts from the fixed points (not only from the previous trial's fit)."""
    every = RESTART_EVERY * max(1, n_observed // RESTART_SPACING)
    return n_observed <= ALWAYS_RESTART_BELOW or n_observed % every == 0


class GPSampler(BaseSampler):
    """Bayesian optimisation with Gaussian processes: log EI for one objective, log EHVI for two or three,
    weighted by the probability of feasibility where trials carry constraints.

    Args:
        seed: seed of the sampler's random numbers (candidates, the independent sampler).
        n_startup_trials: trials sampled at random before the GP takes over.
        independent_sampler: sampler for startup trials and params outside the relative space.
        consider_pruned_trials: model pruned trials with their last intermediate value.
        constraints_func: as Optuna's samplers take it: a finished trial -> constraint values, feasible at
            ≤ 0, stored on the trial. Constraints set by the objective (`trial.set_constraint`) are used too.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int = STARTUP_TRIALS,
        independent_sampler: BaseSampler | None = None,
        consider_pruned_trials: bool = True,
        constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None,
    ) -> None:
        self._seed = seed
        self._rng = np.random.RandomState(seed)
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler or TrialSeededSampler(RandomSampler, seed)
        self._consider_pruned_trials = consider_pruned_trials
        self._constraints_func = constraints_func
        self._warm_start: dict[tuple[str, ...], np.ndarray] = {}
        self._lock = threading.Lock()  # n_jobs > 1 shares one sampler between threads

    def reseed_rng(self) -> None:
        self._rng = np.random.RandomState()
        self._independent_sampler.reseed_rng()

    @staticmethod
    def _check_objectives(study: Study) -> None:
        if len(study.directions) > MAX_OBJECTIVES:
            raise ValueError(
                f"GPSampler supports 1 to {MAX_OBJECTIVES} objectives; got {len(study.directions)}. "
                "Use optuna.samplers.NSGAIISampler or TPESampler for more."
            )

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        self._check_objectives(study)
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
        return union_search_space(finished)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._check_objectives(study)
        if not search_space:
            return {}
        trials = study.get_trials(deepcopy=False)
        observed = gather(trials, search_space, study.directions, self._consider_pruned_trials)
        # The random start ends once enough trials have said something of the objective, pruned ones included:
        # inside a Hyperband bracket (which shows the sampler only its own trials) few trials complete, and counting
        # complete ones alone kept the GP in its random start for ever (tests/search/test_samplers.py).
        if not observed or sum(not failed for failed in observed.failed) < self._n_startup_trials:
            return {}
        # The space's shape comes from trials that ran to the end: a failed one may have stopped before asking
        # for some params, which would look like a conditional space that is not there.
        ran = [params for params, failed in zip(observed.params, observed.failed, strict=True) if not failed]
        space = ConditionalSpace(search_space, ran)
        X = space.encode_observed(observed.params)
        signs = np.array([1.0 if d == StudyDirection.MAXIMIZE else -1.0 for d in study.directions])
        Y = np.stack([transform_outputs(signs[j] * observed.values[:, j]) for j in range(len(signs))], axis=1)
        with self._lock:  # shared state only; threads fit their models in parallel
            seed = trial_seed(self._seed, trial.number)  # workers and resumes draw the same candidates
            rng = np.random.RandomState(self._rng.randint(2**31) if seed is None else seed)
        objectives = [self._fit(space, X, Y[:, j], ("objective", str(j))) for j in range(Y.shape[1])]
        constraints, thresholds = [], []
        for i in range(observed.constraints.shape[1]):
            known = observed.known(i)
            values, mean, std = standardise(observed.constraints[known, i])
            constraints.append(self._fit(space, X[known], values, ("constraint", str(i))))
            thresholds.append(-mean / std)
        goal = Goal(objectives, constraints, np.array(thresholds), X, Y, observed.feasible)
        anchors = space.encode_raw(observed.params)[goal.anchor_order(rng)[:N_ANCHORS]]
        lengthscales = space.raw_scales(1.0 / np.sqrt(objectives[0].params.inverse_sq_lengthscales))

        def propose(running: np.ndarray) -> np.ndarray:
            acquisition = goal.acquisition(running)
            if space.conditional:
                acquisition = ThroughRules(acquisition, space)
            return maximize(acquisition, space.raw, anchors, rng, lengthscales)

        running, pending = self._running_points(trials, trial, space)
        point = propose(running)
        # A lower-numbered trial still being sampled by another worker sees the same data and will find the
        # same maximum; assume it takes this point and look again (it, in turn, ignores higher numbers).
        for _ in range(min(pending, MAX_PENDING_BELIEVED)):
            running = np.vstack([running, space.embed(point[None, :])])
            point = propose(running)
        # Store the active configuration on the trial at once, so other workers see it before its params are
        # set. All params are returned: where the rules were wrong, the objective still gets a proposed value.
        params, active = space.decode(point)
        set_trial_system_attr(study, trial, PARAMS_ATTR, json.dumps(active))
        return params

    def _fit(self, space: ConditionalSpace, X: np.ndarray, y: np.ndarray, role: tuple[str, ...]) -> GaussianProcess:
        """A GP on (X, y), its hyperparameters warm-started from the same model's fit at the previous trial."""
        key = (*space.names, *role)
        with self._lock:
            warm_start = self._warm_start.get(key)
        hyperparameters = fit_hyperparameters(
            X, y, space.is_categorical, default_prior(space.dim), warm_start, _restart_fit(len(y))
        )
        with self._lock:
            self._warm_start[key] = hyperparameters.theta()
        return GaussianProcess(X, y, hyperparameters, space.is_categorical)

    def _running_points(
        self, trials: Sequence[FrozenTrial], current: FrozenTrial, space: ConditionalSpace
    ) -> tuple[np.ndarray, int]:
        """Model inputs of other RUNNING trials (params or stored proposal), and how many lower-numbered ones
        have neither yet because another worker is sampling them right now."""
        configurations, pending = [], 0
        names = {d.name for d in space.union.dimensions}
        for trial in trials:
            if trial.state != TrialState.RUNNING or trial.number == current.number:
                continue
            params = dict(json.loads(trial_system_attrs(trial).get(PARAMS_ATTR, "{}")))
            params.update(trial.params)
            params = {name: value for name, value in params.items() if name in names}
            if space.root_names <= set(params):
                configurations.append(params)
            elif trial.number < current.number and not trial.params:
                pending += 1
        return space.encode_observed(configurations), pending

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        self._check_objectives(study)
        return self._independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        if self._constraints_func is not None:
            store_constraints(self._constraints_func, study, trial, state)
        self._independent_sampler.after_trial(study, trial, state, values)
