"""Checks that need the loaded data or this machine, run before anything is created: the config layer cannot
know a CSV's task or whether a GPU is present."""

from __future__ import annotations

from optflow.config import Config
from optflow.config.validation import check_task
from optflow.data import Dataset
from optflow.training import check_device


def preflight(config: Config, data: Dataset) -> None:
    """A `UsageError` naming the field when the metric does not fit the data's task or a device is missing."""
    check_task(config, data.task, data.name)
    check_device(config.training.device)
    for param in config.search:
        if param.name == "device":
            for choice in param.choices:
                check_device(choice, "search.device.choices")
