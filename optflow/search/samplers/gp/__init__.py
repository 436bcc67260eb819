"""optflow's own Gaussian-process Bayesian-optimisation sampler (see sampler.py for the design)."""

from optflow.search.samplers.gp.sampler import GPSampler

__all__ = ["GPSampler"]
