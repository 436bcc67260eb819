"""Which GPU a worker trains on: `--workers N` on a machine with several takes them in turn (round robin over
`--devices`, by default every visible one), as Ray Tune gives each trial its own GPU."""

from __future__ import annotations

from dataclasses import replace

import torch

from optflow.config import Config
from optflow.errors import UsageError


def parse_devices(value: str) -> tuple[int, ...]:
    """`--devices 0,2` -> (0, 2), checked against the CUDA devices torch sees."""
    if not value:
        return ()
    count = torch.cuda.device_count()
    if count == 0:
        raise UsageError(f"--devices needs CUDA devices (torch sees none on this machine); got {value!r}")
    try:
        devices = tuple(int(part) for part in value.split(","))
    except ValueError:
        devices = ()
    if not devices or any(not 0 <= device < count for device in devices):
        raise UsageError(f"--devices must be CUDA device indices in [0, {count}) separated by commas; got {value!r}")
    return devices


def pinned(config: Config, worker_index: int, devices: tuple[int, ...] = ()) -> Config:
    """`config` with `training.device` set to this worker's GPU (`cuda:K`) when it trains on CUDA; unchanged on
    the CPU. Worker i takes `devices[i mod len(devices)]` (default: every visible device)."""
    device = config.training.device
    if device == "cpu" or not torch.cuda.is_available():
        return config
    choices = devices or tuple(range(torch.cuda.device_count()))
    return replace(config, training=replace(config.training, device=f"cuda:{choices[worker_index % len(choices)]}"))
