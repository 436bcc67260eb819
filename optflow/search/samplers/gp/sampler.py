"""`GPSampler`: Gaussian-process Bayesian optimisation behind Optuna's `BaseSampler` seam (glue only).

What goes into the model, and why:
- COMPLETE trials with their values; PRUNED trials with their last reported value (a pessimistic but
  informative estimate: the pruner judged the region poor, and the GP should learn that); FAIL trials, e.g. a
  diverged learning rate, with the worst observed value, as SMAC and HEBO do for crashed configurations. Trials
  lost to a dead worker are retried by the study instead, so they carry no such signal: their params are
  usually incomplete and they are skipped.
- Outputs are turned to "higher is better", standardised, passed through a Yeo-Johnson power transform
  (HEBO, Cowen-Rivers et al. 2022) so that a few diverging, huge losses do not flatten the model everywhere
  else, and standardised again.
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
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optflow.search.optuna_private import set_trial_system_attr
from optflow.search.samplers.gp.acqf import LogEI
from optflow.search.samplers.gp.conditional import ConditionalSpace, ThroughRules, union_search_space
from optflow.search.samplers.gp.gp import GaussianProcess, fit_hyperparameters
from optflow.search.samplers.gp.optim import maximize
from optflow.search.samplers.gp.prior import default_prior
from optflow.search.samplers.seeding import TrialSeededSampler, trial_seed

STARTUP_TRIALS = 10  # trials sampled at random before the GP takes over (Optuna's GPSampler uses 10 too)
PARAMS_ATTR = "optflow_gp:params"  # system attr: a running trial's proposed params, for other workers
N_ANCHORS = 5  # best observed points whose neighbourhoods are screened
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


OUTLIER_IQRS = 3.0  # Tukey's "far out" fence: neutral on sampler_bench's functions, see README
YEO_JOHNSON_LAMBDAS = np.linspace(-2.0, 4.0, 61)  # grid for the power; scipy's Brent search took 17 ms a call


def _yeo_johnson(z: np.ndarray, lmbda: np.ndarray) -> np.ndarray:
    """Yeo & Johnson (2000), eq. 2.1, for every λ at once: shape (len(λ), len(z))."""
    lmbda = lmbda[:, None]
    positive = z >= 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pos = np.where(np.abs(lmbda) < 1e-8, np.log1p(z), (np.power(1 + z, lmbda) - 1) / lmbda)
        neg = np.where(np.abs(lmbda - 2) < 1e-8, -np.log1p(-z), -(np.power(1 - z, 2 - lmbda) - 1) / (2 - lmbda))
    return np.where(positive, pos, neg)


def _transform_outputs(values: np.ndarray) -> np.ndarray:
    """Clip outliers, standardise, Yeo-Johnson with the maximum-likelihood power, standardise again.

    The clip (quartiles ± 3 interquartile ranges) matters for training objectives: one diverging trial with a
    loss 500x the others made the power transform squash every other value together, and the GP then saw a
    flat function with one dip and proposed corners of the space. All-equal values become zeros.
    """
    q1, q3 = np.percentile(values, [25, 75])
    spread = OUTLIER_IQRS * (q3 - q1)
    if spread > 0:
        values = np.clip(values, q1 - spread, q3 + spread)
    std = values.std()
    if not np.isfinite(std) or std < 1e-12:
        return np.zeros_like(values)
    z = (values - values.mean()) / std
    if len(z) >= 3:
        candidates = _yeo_johnson(z, YEO_JOHNSON_LAMBDAS)  # (λ, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Profile log-likelihood of λ under a normal model (Yeo & Johnson 2000, §3).
            log_likelihood = -0.5 * len(z) * np.log(candidates.var(axis=1)) + (
                (YEO_JOHNSON_LAMBDAS - 1) * np.sum(np.sign(z) * np.log1p(np.abs(z)))
            )
        log_likelihood[~np.isfinite(log_likelihood)] = -np.inf
        best = candidates[int(np.argmax(log_likelihood))]
        if np.all(np.isfinite(best)) and best.std() > 1e-12:
            z = best
    return (z - z.mean()) / z.std()


class GPSampler(BaseSampler):
    """Bayesian optimisation with a Gaussian process and log expected improvement.

    Args:
        seed: seed of the sampler's random numbers (candidates, the independent sampler).
        n_startup_trials: trials sampled at random before the GP takes over.
        independent_sampler: sampler for startup trials and params outside the relative space.
        consider_pruned_trials: model pruned trials with their last intermediate value.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int = STARTUP_TRIALS,
        independent_sampler: BaseSampler | None = None,
        consider_pruned_trials: bool = True,
    ) -> None:
        self._seed = seed
        self._rng = np.random.RandomState(seed)
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler or TrialSeededSampler(RandomSampler, seed)
        self._consider_pruned_trials = consider_pruned_trials
        self._warm_start: dict[tuple[str, ...], np.ndarray] = {}
        self._lock = threading.Lock()  # n_jobs > 1 shares one sampler between threads

    def reseed_rng(self) -> None:
        self._rng = np.random.RandomState()
        self._independent_sampler.reseed_rng()

    @staticmethod
    def _check_single_objective(study: Study) -> None:
        if len(study.directions) > 1:
            raise ValueError(
                f"GPSampler supports single-objective studies; got {len(study.directions)} objectives. "
                "Use optuna.samplers.NSGAIISampler or TPESampler for multi-objective studies."
            )

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        self._check_single_objective(study)
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
        return union_search_space(finished)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._check_single_objective(study)
        if not search_space:
            return {}
        trials = study.get_trials(deepcopy=False)
        minimizing = study.direction == StudyDirection.MINIMIZE
        observed = self._observations(trials, search_space, minimizing)
        if len([t for t in trials if t.state == TrialState.COMPLETE]) < self._n_startup_trials or not observed:
            return {}
        space = ConditionalSpace(search_space, [params for params, _ in observed])
        X = space.encode_observed([params for params, _ in observed])
        sign = -1.0 if minimizing else 1.0
        y = _transform_outputs(sign * np.array([value for _, value in observed]))

        key = tuple(space.names)
        with self._lock:  # shared state only; threads fit their models in parallel
            warm_start = self._warm_start.get(key)
            seed = trial_seed(self._seed, trial.number)  # workers and resumes draw the same candidates
            rng = np.random.RandomState(self._rng.randint(2**31) if seed is None else seed)
        restarts = _restart_fit(len(y))
        hyperparameters = fit_hyperparameters(
            X, y, space.is_categorical, default_prior(space.dim), warm_start, restarts
        )
        with self._lock:
            self._warm_start[key] = hyperparameters.theta()

        gp = GaussianProcess(X, y, hyperparameters, space.is_categorical)
        incumbent = float(gp.mean(X).max())
        anchors = space.observed_raw()[np.argsort(-y)[:N_ANCHORS]]
        lengthscales = space.raw_scales(1.0 / np.sqrt(hyperparameters.inverse_sq_lengthscales))

        def propose(running: np.ndarray) -> np.ndarray:
            believed = gp.condition_on(running, gp.mean(running)) if len(running) else gp
            acquisition = LogEI(believed, incumbent)
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

    def _observations(
        self, trials: Sequence[FrozenTrial], search_space: dict[str, BaseDistribution], minimizing: bool
    ) -> list[tuple[dict[str, Any], float]]:
        """(params, value) of the trials the GP learns from; failed ones get the worst finite value."""
        observed: list[tuple[dict[str, Any], float]] = []
        failed: list[dict[str, Any]] = []
        for trial in trials:
            params = {name: value for name, value in trial.params.items() if name in search_space}
            if not params:
                continue
            if trial.state == TrialState.COMPLETE and trial.value is not None:
                value = trial.value
            elif trial.state == TrialState.PRUNED and self._consider_pruned_trials and trial.intermediate_values:
                value = trial.intermediate_values[max(trial.intermediate_values)]
            elif trial.state == TrialState.FAIL:
                failed.append(params)
                continue
            else:
                continue
            if np.isnan(value):
                failed.append(params)
            else:
                observed.append((params, float(value)))
        finite = [v for _, v in observed if np.isfinite(v)]
        if not finite:
            return []
        low, high = min(finite), max(finite)
        observed = [(p, float(np.clip(v, low, high))) for p, v in observed]  # ±inf -> the finite extremes
        worst = high if minimizing else low
        return observed + [(p, worst) for p in failed]

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
            params = dict(json.loads(trial.system_attrs.get(PARAMS_ATTR, "{}")))
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
        self._check_single_objective(study)
        return self._independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._independent_sampler.after_trial(study, trial, state, values)
