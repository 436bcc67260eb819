"""What a run's MLflow params are: a training run's under the searchable names, the study run's by section."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from optflow.config import Config
from optflow.urls import mask_password


def _flat(section: str, values: Any) -> dict[str, str]:
    """Dotted `section.field` -> string, as MLflow params want them."""
    out = {}
    for f in fields(values):
        value = getattr(values, f.name)
        out[f"{section}.{f.name}"] = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return out


def run_params(config: Config) -> dict[str, str]:
    """A training run's MLflow params under the searchable names (`lr`, `optimizer`, ...), so they line up
    with Optuna's param names when runs are compared side by side; only those that acted in the run (no
    `gamma` under a constant schedule, no `momentum` under adam), so the compare view shows real differences."""
    flat = {**_flat("training", config.training), **_flat("model", config.model)}
    return {key.split(".", 1)[1]: value for key, value in flat.items() if config.applies(key)}


def study_params(config: Config) -> dict[str, str]:
    """The study run's params: the fixed config, section by section, passwords masked; fields that do not act
    (a CSV path for a bundled set) or are not set (an empty experiment name) are left out."""
    flat = {
        k: v
        for section in ("study", "data", "model", "training")
        for k, v in _flat(section, getattr(config, section)).items()
    }
    return {key: mask_password(value) for key, value in flat.items() if value != "" and config.applies(key)}
