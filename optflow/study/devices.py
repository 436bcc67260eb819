"""Which GPU a worker trains on: `--workers N` on a machine with several takes them in turn (round robin over
`--devices`, by default every visible one), as Ray Tune gives each trial its own GPU."""

from __future__ import annotations

from dataclasses import replace

import torch

from optflow.config import Config
from optflow.errors import UsageError


def parse_devices(value: str, device: str = "auto") -> tuple[int, ...]:
    """`--devices 0,2` -> (0, 2), checked against the CUDA devices torch sees and the config's `device`."""
    if not value:
        return ()
    if device == "cpu":
        raise UsageError(f"--devices needs training.device cuda or auto (the workers train on the CPU); got {value!r}")
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


def use_device(config: Config) -> None:
    """Make a pinned worker's GPU its current device, so code that uses the current one (a user's `.cuda()`,
    kernels' autotuning) does not open a context on GPU 0 from every worker."""
    if config.training.device.startswith("cuda:"):
        torch.cuda.set_device(torch.device(config.training.device))
