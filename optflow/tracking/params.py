"""What a run's MLflow params are: a training run's under the searchable names, the study run's by section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from optflow.config import Config
from optflow.config.applies import applies
from optflow.urls import mask_password


def _flat(section: str, values: Any) -> dict[str, str]:
    """Dotted `section.field` -> string, as MLflow params want them; a factory's params as
    `section.params.name`."""
    out = {}
    for f in fields(values):
        value = getattr(values, f.name)
        if isinstance(value, Mapping):
            out.update({f"{section}.{f.name}.{name}": _text(v) for name, v in value.items()})
        else:
            out[f"{section}.{f.name}"] = _text(value)
    return out


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def run_params(config: Config) -> dict[str, str]:
    """A training run's MLflow params under the searchable names (`lr`, `optimizer`, ...), so they line up
    with Optuna's param names when runs are compared side by side; only those that acted in the run (no
    `gamma` under a constant schedule, no `momentum` under adam), so the compare view shows real differences."""
    if config.own_loop:  # the function's arguments, as it was called
        return {name: _text(value) for name, value in config.objective.params.items()}
    flat = {**_flat("training", config.training), **_flat("model", config.model), **_data_params(config)}
    return {key.rsplit(".", 1)[1]: value for key, value in flat.items() if applies(config, key)}


def _data_params(config: Config) -> dict[str, str]:
    """The data factory's params: a trial may search them too (a sequence length, an augmentation)."""
    return {key: value for key, value in _flat("data", config.data).items() if key.startswith("data.params.")}


def study_params(config: Config) -> dict[str, str]:
    """The study run's params: the fixed config, section by section, passwords masked; fields that do not act
    (a CSV path for a bundled set) or are not set (an empty experiment name) are left out."""
    sections = ("study", "objective") if config.own_loop else ("study", "data", "model", "training")
    flat = {k: v for section in sections for k, v in _flat(section, getattr(config, section)).items()}
    return {key: mask_password(value) for key, value in flat.items() if value != "" and applies(config, key)}
