"""What a run's MLflow params are: a training run's under the searchable names, the study run's by section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from optflow.config import Config
from optflow.config.applies import applies
from optflow.config.names import MLP_LAYERS, field_of, mlp_layer
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


def run_params(config: Config, searched: Mapping[str, Any] | None = None) -> dict[str, str]:
    """A training run's MLflow params by field name (`lr`, `optimizer`, ...), a searched one under the name its
    search entry has (`training.lr`, `mlp_width_2`), so they line up with Optuna's param names when runs are
    compared side by side; only those that acted in the run (no `gamma` under a constant schedule, no `momentum`
    under adam), so the compare view shows real differences."""
    if config.own_loop:  # the function's arguments, as it was called
        params = {name: _text(value) for name, value in config.objective.params.items()}
    else:
        flat = {**_flat("training", config.training), **_flat("model", config.model), **_flat("data", config.data)}
        params = {}
        for key, value in flat.items():
            if ".params." not in key and not key.startswith("data.") and applies(config, key):
                params[key.rsplit(".", 1)[1]] = value
        for key, value in flat.items():  # a factory's params, which may share a field's name
            section, _, name = key.partition(".params.")
            if name:
                params[f"{section}.{name}" if name in params else name] = value
    for name, value in (searched or {}).items():
        field = field_of(name)
        if name in params:
            params[name] = _text(value)
        elif name != field and field in params:  # `training.lr` stands for `lr`
            del params[field]
            params[name] = _text(value)
        elif (field == MLP_LAYERS or mlp_layer(field)) and "hidden" in params:  # the MLP's shape, as searched
            params[name] = _text(value)
    return params


def study_params(config: Config) -> dict[str, str]:
    """The study run's params: the fixed config, section by section, passwords masked; fields that do not act
    (a CSV path for a bundled set) or are not set (an empty experiment name) are left out."""
    sections = ("study", "objective") if config.own_loop else ("study", "data", "model", "training")
    flat = {k: v for section in sections for k, v in _flat(section, getattr(config, section)).items()}
    return {key: mask_password(value) for key, value in flat.items() if value != "" and applies(config, key)}
