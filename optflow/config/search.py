"""The config's `search` section -> validated `SearchParam`s: ranges, choices, grid points and conditions.

A searched value must pass the rule of the field it varies (`search.dropout.high: 1.5` is refused like
`training.dropout: 1.5`), so every trial's params are valid before the study starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from optflow.config.rules import Rule, constant, number, one_of
from optflow.config.schema import SEARCHABLE, SearchParam
from optflow.errors import UsageError

SEARCH_TYPES = ("float", "int", "categorical")
FieldRules = Mapping[str, Mapping[str, Rule]]  # section -> field -> rule


def build_search(raw: Any, rules: FieldRules) -> tuple[SearchParam, ...]:
    """The search entries, in declaration order."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"search must be a mapping of field names to ranges; got {raw!r}")
    return tuple(_build_param(str(name), spec, rules) for name, spec in raw.items())


def _field_rule(name: str, rules: FieldRules) -> Rule:
    return rules[SEARCHABLE[name]][name]


def _build_param(name: str, raw: Any, rules: FieldRules) -> SearchParam:
    where = f"search.{name}"
    if name not in SEARCHABLE:
        raise UsageError(f"{where} is not a searchable field; searchable: {', '.join(sorted(SEARCHABLE))}")
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where} must be a mapping with a type; got {raw!r}")
    allowed = {f.name for f in fields(SearchParam)} - {"name"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UsageError(f"{where}.{unknown[0]} is not a known key; known keys: {', '.join(sorted(allowed))}")
    kind = one_of(constant(*SEARCH_TYPES)).check(f"{where}.type", raw.get("type"))
    field_rule = _field_rule(name, rules)
    grid = tuple(field_rule.check(f"{where}.grid", v) for v in _as_list(raw.get("grid", []), f"{where}.grid"))
    n_points = number(int, 2).check(f"{where}.n_points", raw.get("n_points", 3))
    when = _build_condition(where, raw.get("when"), rules)

    if kind == "categorical":
        choices = _as_list(raw.get("choices"), f"{where}.choices")
        if not choices:
            raise UsageError(f"{where}.choices must be a non-empty list; got {raw.get('choices')!r}")
        choices = [field_rule.check(f"{where}.choices", c) for c in choices]
        return SearchParam(name, kind, choices=tuple(choices), grid=grid, when=when)

    number_kind = float if kind == "float" else int
    low = number(number_kind).check(f"{where}.low", raw.get("low"))
    high = number(number_kind).check(f"{where}.high", raw.get("high"))
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(f"{where}.log must be true or false; got {log!r}")
    if low >= high:
        raise UsageError(f"{where}.low must be < {where}.high; got low={low:g}, high={high:g}")
    if log and low <= 0:
        raise UsageError(f"{where}.low must be > 0 when log is true; got {low:g}")
    step = raw.get("step")
    if step is not None:
        step = number(number_kind, 0, None, "neither").check(f"{where}.step", step)
        if log:
            raise UsageError(f"{where}.step must be null when log is true; got {step!r}")
    field_rule.check(f"{where}.low", low)
    field_rule.check(f"{where}.high", high)
    for point in grid:
        if not low <= point <= high:
            raise UsageError(f"{where}.grid values must lie in [{low:g}, {high:g}]; got {point!r}")
    return SearchParam(name, kind, low, high, log, step, grid=grid, n_points=n_points, when=when)


def _build_condition(where: str, raw: Any, rules: FieldRules) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}.when must map field names to lists of values; got {raw!r}")
    condition = []
    for name, values in raw.items():
        if name not in SEARCHABLE:
            raise UsageError(
                f"{where}.when.{name} is not a searchable field; searchable: {', '.join(sorted(SEARCHABLE))}"
            )
        values = values if isinstance(values, list | tuple) else [values]
        rule = _field_rule(name, rules)
        condition.append((name, tuple(rule.check(f"{where}.when.{name}", v) for v in values)))
    return tuple(condition)


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise UsageError(f"{where} must be a list; got {value!r}")
    return list(value)
