"""The config's `search` section -> validated `SearchParam`s: ranges, choices, grid points and conditions.

A searched value must pass the rule of the field it varies (`search.dropout.high: 1.5` is refused like
`training.dropout: 1.5`), and its entry's type must fit the field, so every trial's params are valid before
the study starts. Entries come back in dependency order: a param with `when: {schedule: ...}` after
`schedule`, whatever order the file lists them in, since a condition can only be tested on a value already
drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from optflow.config.rules import Rule, constant, number, one_of
from optflow.config.schema import Config
from optflow.config.search_param import SearchParam
from optflow.errors import UsageError

SEARCH_TYPES = ("float", "int", "categorical")
MAX_GRID_POINTS = 100_000  # the grid sampler builds its whole grid in memory: about 100 bytes a point
STEP_TOLERANCE = 1e-9  # relative: 0.1 divides 0.3 although 0.3 / 0.1 = 2.9999999999999996
FieldRules = Mapping[str, Mapping[str, Rule]]  # section -> field -> rule


# A factory's param takes any value its factory accepts: the factory is the judge of it.
FACTORY_PARAM = Rule(lambda: "any value", lambda value: value, ("float", "int", "categorical"))


def build_search(raw: Any, rules: FieldRules, searchable: Mapping[str, str]) -> tuple[SearchParam, ...]:
    """The search entries, each validated, in dependency order (declaration order otherwise). `searchable`
    maps every field a search may vary to where it lives (`Config.searchable`)."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"search must be a mapping of field names to ranges; got {raw!r}")
    return _dependency_order([_build_param(str(name), spec, rules, searchable) for name, spec in raw.items()])


def _field_rule(name: str, rules: FieldRules, searchable: Mapping[str, str]) -> Rule:
    section = searchable[name]
    return FACTORY_PARAM if section.endswith(".params") else rules[section][name]


def _not_searchable(where: str, searchable: Mapping[str, str]) -> UsageError:
    return UsageError(f"{where} is not a searchable field; searchable: {', '.join(sorted(searchable))}")


def _build_param(name: str, raw: Any, rules: FieldRules, searchable: Mapping[str, str]) -> SearchParam:
    where = f"search.{name}"
    if name not in searchable:
        raise _not_searchable(where, searchable)
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where} must be a mapping with a type; got {raw!r}")
    allowed = {f.name for f in fields(SearchParam)} - {"name"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UsageError(f"{where}.{unknown[0]} is not a known key; known keys: {', '.join(sorted(allowed))}")
    field_rule = _field_rule(name, rules, searchable)
    kind = one_of(constant(*field_rule.search_types)).check(f"{where}.type", raw.get("type"))
    grid = tuple(field_rule.check(f"{where}.grid", v) for v in _as_list(raw.get("grid", []), f"{where}.grid"))
    n_points = number(int, 2, MAX_GRID_POINTS).check(f"{where}.n_points", raw.get("n_points", 3))
    when = _build_condition(where, raw.get("when"), rules, searchable)

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
        steps = (high - low) / step
        if abs(steps - round(steps)) > STEP_TOLERANCE * max(1.0, abs(steps)):
            raise UsageError(f"{where}.step must divide high - low ({high - low:g}) into whole steps; got {step:g}")
    field_rule.check(f"{where}.low", low)
    field_rule.check(f"{where}.high", high)
    for point in grid:
        if not low <= point <= high:
            raise UsageError(f"{where}.grid values must lie in [{low:g}, {high:g}]; got {point!r}")
    return SearchParam(name, kind, low, high, log, step, grid=grid, n_points=n_points, when=when)


def _build_condition(
    where: str, raw: Any, rules: FieldRules, searchable: Mapping[str, str]
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}.when must map field names to lists of values; got {raw!r}")
    condition = []
    for name, values in raw.items():
        if name not in searchable:
            raise _not_searchable(f"{where}.when.{name}", searchable)
        values = values if isinstance(values, list | tuple) else [values]
        rule = _field_rule(name, rules, searchable)
        condition.append((name, tuple(rule.check(f"{where}.when.{name}", v) for v in values)))
    return tuple(condition)


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise UsageError(f"{where} must be a list; got {value!r}")
    return list(value)


def _dependency_order(params: list[SearchParam]) -> tuple[SearchParam, ...]:
    """Each param after the searched params its condition reads (Kahn's algorithm, declaration order kept
    among the ready ones); a cycle of conditions is an error naming it."""
    searched = {p.name for p in params}
    waiting = {p.name: {name for name, _ in p.when if name in searched} for p in params}
    ordered: list[SearchParam] = []
    while len(ordered) < len(params):
        ready = [p for p in params if p.name in waiting and not waiting[p.name]]
        if not ready:
            cycle = _cycle(waiting)
            raise UsageError(f"search.{cycle[0]}.when must not form a cycle of conditions; got {' -> '.join(cycle)}")
        for param in ready:
            ordered.append(param)
            del waiting[param.name]
            for needs in waiting.values():
                needs.discard(param.name)
    return tuple(ordered)


def _cycle(waiting: dict[str, set[str]]) -> list[str]:
    """A cycle among the params still waiting (each waits on another one waiting), as a closed path."""
    start = next(iter(waiting))
    path = [start]
    while True:
        step = sorted(waiting[path[-1]])[0]
        if step in path:
            return path[path.index(step) :] + [step]
        path.append(step)


def check_search(config: Config) -> None:
    """What only the whole config can tell: every condition can hold, and the grid is not too large."""
    searched = {param.name: param for param in config.search}
    for param in config.search:
        for name, values in param.when:
            where = f"search.{param.name}.when.{name}"
            if name not in searched:
                fixed, section = config.value_of(name), config.searchable()[name]
                if fixed not in values:  # the param would never be sampled
                    raise UsageError(
                        f"{where} must include {section}.{name} ({fixed!r}), since {name} is not searched; "
                        f"got {list(values)}"
                    )
            elif searched[name].type == "categorical" and not set(values) & set(searched[name].choices):
                choices = ", ".join(map(str, searched[name].choices))
                raise UsageError(f"{where} must list one of search.{name}'s choices ({choices}); got {list(values)}")
    if config.study.sampler == "grid":
        sizes = [len(param.grid_values()) for param in config.search]
        size = math.prod(sizes)
        if size > MAX_GRID_POINTS:
            shape = " x ".join(f"{n:,}" for n in sizes)
            raise UsageError(
                f"search must give the grid sampler at most {MAX_GRID_POINTS:,} points (fewer grid or n_points "
                f"values, or another study.sampler); got {size:,} ({shape})"
            )
