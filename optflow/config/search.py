"""The config's `search` section -> validated `SearchParam`s: ranges, choices, grid points and conditions.

A searched value must pass the rule of the field it varies (`search.dropout.high: 1.5` is refused like
`training.dropout: 1.5`), and its entry's type must fit the field, so every trial's params are valid before
the study starts. Entries come back in dependency order: a param with `when: {schedule: ...}` after
`schedule`, whatever order the file lists them in, since a condition can only be tested on a value already
drawn.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from optflow.config import names
from optflow.config.rules import constant, did_you_mean, number, one_of
from optflow.config.schema import Config
from optflow.config.search_param import SearchParam
from optflow.errors import UsageError

MAX_GRID_POINTS = 100_000  # the grid sampler builds its whole grid in memory: about 100 bytes a point
STEP_TOLERANCE = 1e-9  # relative: 0.1 divides 0.3 although 0.3 / 0.1 = 2.9999999999999996


def build_search(raw: Any, config: Config) -> tuple[SearchParam, ...]:
    """The search entries of `config` (validated but for its search), each validated, in dependency order
    (declaration order otherwise). An entry's name says which field it varies (`names.py`)."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"search must be a mapping of field names to ranges; got {raw!r}")
    places = {str(name): names.place_of(config, str(name)) for name in raw}
    searched: dict[str, str] = {}  # `section.field` -> the entry that searches it
    for name, place in places.items():
        field = _field_key(place, name)
        if field in searched:
            raise UsageError(
                f"search.{name} must name a field no other entry searches; got {name}, which search."
                f"{searched[field]} searches too"
            )
        searched[field] = name
    params = [_build_param(str(name), spec, config, places[str(name)], searched) for name, spec in raw.items()]
    return _dependency_order(_with_depth_conditions(params, config, searched))


def _field_key(place: str, name: str) -> str:
    """What an entry sets, whatever it is called: `training.lr` for `lr` and `training.lr` alike."""
    return f"{place}.{names.field_of(name)}"


def _build_param(name: str, raw: Any, config: Config, place: str, searched: Mapping[str, str]) -> SearchParam:
    where = f"search.{name}"
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where} must be a mapping with a type; got {raw!r}")
    allowed = {f.name for f in fields(SearchParam)} - {"name"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UsageError(
            f"{where}.{unknown[0]} is not a known key; {did_you_mean(unknown[0], allowed)}"
            f"known keys: {', '.join(sorted(allowed))}"
        )
    field_rule = names.rule_of(place, name)
    kind = one_of(constant(*field_rule.search_types)).check(f"{where}.type", raw.get("type"))
    grid = tuple(field_rule.check(f"{where}.grid", v) for v in _as_list(raw.get("grid", []), f"{where}.grid"))
    n_points = number(int, 2, MAX_GRID_POINTS).check(f"{where}.n_points", raw.get("n_points", 3))
    when = _build_condition(where, raw.get("when"), config, searched)

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
    where: str, raw: Any, config: Config, searched: Mapping[str, str]
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """`when`, each name as the search calls the field when it is searched (`schedule` for `training.schedule`),
    so that a condition reads the value a trial drew."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}.when must map field names to lists of values; got {raw!r}")
    condition = []
    for name, values in raw.items():
        name = str(name)
        place = names.place_of(config, name, f"{where}.when.{name}")
        entry = searched.get(_field_key(place, name))
        if entry is None and names.value_of(config, name) is None:  # a param only a search could declare
            raise UsageError(f"{where}.when.{name} must name a searched param or a field with a value; got {name}")
        values = values if isinstance(values, list | tuple) else [values]
        rule = names.rule_of(place, name)
        condition.append((entry or name, tuple(rule.check(f"{where}.when.{name}", v) for v in values)))
    return tuple(condition)


def _with_depth_conditions(params: list[SearchParam], config: Config, searched: Mapping[str, str]) -> list[SearchParam]:
    """The MLP's layer widths, each active only while the searched depth has that layer (`mlp_width_3` when
    `mlp_layers` is 3 or more), unless its entry says when itself; a width no depth reaches is refused."""
    depth_name = searched.get(f"{names.MLP_SHAPE}.{names.MLP_LAYERS}")
    depth = next((p for p in params if p.name == depth_name), None)
    out = []
    for param in params:
        on_shape = names.place_of(config, param.name) == names.MLP_SHAPE
        layer = names.mlp_layer(names.field_of(param.name)) if on_shape else None
        if layer is None or any(name == depth_name for name, _ in param.when):
            out.append(param)
            continue
        if depth is None:
            fixed = len(config.model.hidden)
            if layer > fixed:
                raise UsageError(
                    f"search.{param.name} must name one of the MLP's {fixed} hidden layers (model.hidden), or search "
                    f"{names.MLP_LAYERS} too; got layer {layer}"
                )
            out.append(param)
            continue
        depths = tuple(d for d in _depths(depth) if d >= layer)
        if not depths:
            raise UsageError(
                f"search.{param.name} must name a layer search.{depth.name} can reach (at most "
                f"{max(_depths(depth))}); got layer {layer}"
            )
        out.append(dataclasses.replace(param, when=(*param.when, (depth.name, depths))))
    return out


def _depths(depth: SearchParam) -> list[int]:
    """Every depth the `mlp_layers` entry can draw."""
    if depth.type == "categorical":
        return sorted({int(v) for v in depth.choices})
    return list(range(int(depth.low), int(depth.high) + 1, int(depth.step or 1)))


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
                fixed, field = config.value_of(name), names.qualified(names.place_of(config, name), name)
                if fixed not in values:  # the param would never be sampled
                    raise UsageError(
                        f"{where} must include {field} ({fixed!r}), since {name} is not searched; got {list(values)}"
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
