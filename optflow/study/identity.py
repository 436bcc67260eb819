"""What a study is: the task it was created for, recorded in the study, so that joining it with another task is
refused before anything is made, while a new sampler, pruner or budget is allowed and remembered.

The definition is the data (name, rows, a digest of its values), the model, the search space, the metric and
direction, and every fixed training field that changes results (not `device` or `threads`). It lives in the
study's system attrs, beside the settings the user may change between sessions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import optuna

from optflow.config import SECTIONS, Config
from optflow.config.names import MLP_LAYERS, MLP_SHAPE, field_of, mlp_layer, place_of
from optflow.data import Dataset
from optflow.errors import UsageError
from optflow.search.optuna_private import set_study_system_attr, study_system_attrs

DEFINITION_ATTR = "optflow:definition"  # study system attrs
SETTINGS_ATTR = "optflow:settings"
ANOTHER_NAME = "give the new task another study name (--study-name, or study.name)"
# fields that change speed or what survives a crash, not results
RUNTIME_FIELDS = ("device", "threads", "num_workers", "pin_memory", "compile", "checkpoint_every")
SETTINGS = ("sampler", "pruner", "n_trials", "seed")  # study fields a later session may change


def data_digest(data: Dataset) -> str:
    """A short digest of the split data's values: equal digests, equal training and validation rows."""
    digest = hashlib.sha256()
    for tensor in (data.x_train, data.y_train, data.x_val, data.y_val):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _rows(data: Dataset) -> int:
    if data.train_set is not None:  # torch datasets: their lengths, not the sample optflow read up front
        return len(data.train_set) + len(data.val_set)
    return int(len(data.y_train) + len(data.y_val))


def searched_fields(config: Config) -> set[str]:
    """The fields the search sets, as `section.field` (`training.lr`, `model.params.width`), whatever name each
    search entry has; the MLP's shape as `model.hidden` (its depth searched) or `model.hidden.<k>` (a width)."""
    out = set()
    for param in config.search:
        place, field = place_of(config, param.name), field_of(param.name)
        if place != MLP_SHAPE:
            out.add(f"{place}.{field}")
        else:
            out.add(MLP_SHAPE if field == MLP_LAYERS else f"{MLP_SHAPE}.{mlp_layer(field)}")
    return out


def definition(config: Config, data: Dataset | None) -> dict[str, Any]:
    """Field -> value of everything that makes two sessions one task (JSON-ready, in a stable order)."""
    searched = searched_fields(config)
    out: dict[str, Any] = {}
    if data is not None:
        out.update(
            {
                "data.name": config.data.name,
                "data.rows": _rows(data),
                "data.digest": data_digest(data),
                "data.task": data.task,
            }
        )
    else:  # an own loop: its function and arguments are the task
        out["objective.function"] = config.objective.function
        params = config.objective.params
        out.update({f"objective.params.{k}": v for k, v in params.items() if f"objective.params.{k}" not in searched})
    out.update({"study.metric": config.study.metric, "study.direction": config.study.resolved_direction})
    if config.study.multi_objective or config.study.constraints:  # studies of one objective keep their definition
        out.update(
            {"study.objectives": list(config.study.objectives), "study.constraints": list(config.study.constraints)}
        )
    if config.data.factory:  # the factory's code is the user's: its reference and arguments name the data
        out["data.factory"] = config.data.factory
        out.update({f"data.params.{k}": v for k, v in config.data.params.items() if f"data.params.{k}" not in searched})
    for name, value in config.to_dict()["model"].items():
        if name == "params":
            out.update({f"model.params.{k}": v for k, v in value.items() if f"model.params.{k}" not in searched})
        elif name == "factory":
            if value:  # studies of built-in models keep the definition they were made with
                out["model.factory"] = value
        elif name == "hidden" and MLP_SHAPE not in searched:  # a fixed depth: its widths not searched stay
            out[MLP_SHAPE] = [w if f"{MLP_SHAPE}.{k}" not in searched else "searched" for k, w in enumerate(value, 1)]
        elif f"model.{name}" not in searched:
            out[f"model.{name}"] = value
    for name, value in config.to_dict()["training"].items():
        if f"training.{name}" not in searched and name not in RUNTIME_FIELDS:
            out[f"training.{name}"] = value
    for param in config.search:
        out[f"search.{param.name}"] = param.declaration()
    return json.loads(json.dumps(out))  # as the storage gives it back: lists, not tuples


def settings(config: Config) -> dict[str, Any]:
    return {name: getattr(config.study, name) for name in SETTINGS}


def check_identity(study: optuna.Study, config: Config, data: Dataset | None) -> list[tuple[str, Any, Any]]:
    """Refuse a config that defines another task than the study's; record the definition of a new study.

    Returns the settings this session would change, as (field, before, now); `record_settings` makes them the
    study's once the session runs trials (a session that runs nothing changes nothing).
    """
    attrs = study_system_attrs(study)
    current = definition(config, data)
    stored = attrs.get(DEFINITION_ATTR)
    if stored is None:  # a new study, or one made before optflow recorded definitions
        set_study_system_attr(study, DEFINITION_ATTR, current)
    else:
        for field in [*stored, *(f for f in current if f not in stored)]:
            before, now = stored.get(field, "(not set)"), current.get(field, "(not set)")
            if field not in stored and now == _default(field):
                continue  # a field newer than the study: it was made with the default
            if before != now:
                raise UsageError(
                    f"study {config.study.name!r} was made for another task: {field} was {_show(before)}, now "
                    f"{_show(now)}; {ANOTHER_NAME}"
                )
    stored_directions = [d.name.lower() for d in study.directions]  # also for studies made before definitions
    if stored_directions != config.study.directions:
        field = "study.direction" if len(stored_directions) == len(config.study.directions) == 1 else "study.directions"
        show = (lambda d: repr(d[0])) if field == "study.direction" else str
        raise UsageError(
            f"study {config.study.name!r} was made for another task: {field} was {show(stored_directions)}, "
            f"now {show(config.study.directions)}; {ANOTHER_NAME}"
        )
    before, now = attrs.get(SETTINGS_ATTR, {}), settings(config)
    return [(name, before[name], value) for name, value in now.items() if name in before and before[name] != value]


def record_settings(study: optuna.Study, config: Config) -> None:
    """Make this session's settings (sampler, budget, seed, ...) the study's: the `changes` of the next session
    are counted from them."""
    now = settings(config)
    if study_system_attrs(study).get(SETTINGS_ATTR) != now:
        set_study_system_attr(study, SETTINGS_ATTR, now)


def _default(field: str) -> Any:
    """The default value of a config field (`model.channels`), as the storage gives values back."""
    section, _, name = field.partition(".")
    holder = SECTIONS.get(section)
    for f in dataclasses.fields(holder) if holder else ():
        if f.name == name:
            value = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            return json.loads(json.dumps(value))
    return "(no default)"


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else repr(value)
