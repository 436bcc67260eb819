"""Which fields act in a config, read from their declarations: `training.momentum` only under an optimiser that
reads it, `data.path` only for a data set that reads it, a built-in model's fields only without a model factory.
A run lists only the params it used, so the MLflow compare view shows real differences."""

from __future__ import annotations

from functools import cache
from typing import Any

from optflow.config.sections import SECTIONS
from optflow.config.setting import When, settings, value


def applies(config: Any, field: str) -> bool:
    """Whether `section.field` acts in `config` (a field not declared, like a factory's param, always acts)."""
    return all(condition.test(config) for condition in conditions(field))


@cache
def conditions(field: str) -> tuple[When, ...]:
    """What must hold for `section.field` to act: its own declared condition, and for a field that only some
    names of a choice read (`momentum`, read by the momentum optimisers), that the choice acts and its name
    reads the field."""
    section, _, name = field.partition(".")
    declared = settings(SECTIONS[section]).get(name) if section in SECTIONS else None
    if declared is None:
        return ()
    own = (declared.applies,) if declared.applies else ()
    return own + tuple(_read_by(chooser, field) for chooser in _choosers().get(field, ()))


def _read_by(chooser: str, field: str) -> When:
    section, _, name = chooser.partition(".")
    table = settings(SECTIONS[section])[name].choices or {}
    readers = tuple(n for n, entry in table.items() if field in entry.reads)
    words = readers[0] if len(readers) == 1 else ", ".join(readers[:-1]) + " or " + readers[-1]
    read = When(f"`{chooser}` is {words}", lambda config: value(config, chooser) in readers)
    for condition in conditions(chooser):  # a model kind reads `hidden` only while the kind itself acts
        read = condition & read
    return read


@cache
def _choosers() -> dict[str, tuple[str, ...]]:
    """Field -> the choice fields some of whose names read it (`training.momentum` -> `training.optimizer`)."""
    out: dict[str, tuple[str, ...]] = {}
    for section, cls in SECTIONS.items():
        for name, declared in settings(cls).items():
            for field in {f for entry in (declared.choices or {}).values() for f in entry.reads}:
                out[field] = (*out.get(field, ()), f"{section}.{name}")
    return out
