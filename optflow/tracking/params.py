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
    params = {k.split(".", 1)[1]: v for k, v in _flat("training", config.training).items()}
    params.update({k.split(".", 1)[1]: v for k, v in _flat("model", config.model).items()})
    return {name: value for name, value in params.items() if config.applies(name)}


def study_params(config: Config) -> dict[str, str]:
    """The study run's params: the fixed config, section by section, passwords masked."""
    flat = {
        k: v
        for section in ("study", "data", "model", "training")
        for k, v in _flat(section, getattr(config, section)).items()
    }
    return {k: mask_password(v) for k, v in flat.items()}
