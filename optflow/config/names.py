"""Searched names -> the fields they set: `lr` or `training.lr`, a factory's `width` or `model.width`, an own
loop's `lr`, and the MLP's shape as `mlp_layers` and `mlp_width_1`, `mlp_width_2`, ...

The name a search entry is written under is its Optuna param name, which a stored study resumes by, so it is kept
as written and resolved here to a *place*: a section (`training`, `model`), a factory's params (`model.params`,
`data.params`, `objective.params`) or the MLP's `model.hidden`. Only searched names must be unique: a bare name
that two places have (a data factory's `seed` and `training.seed`) is refused only when a search uses it, with the
qualified names to choose from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optflow.config.rules import Rule, did_you_mean, number
from optflow.config.sections import SEARCHABLE, ModelConfig, declared
from optflow.errors import UsageError

if TYPE_CHECKING:
    from optflow.config.schema import Config

MLP_LAYERS = "mlp_layers"  # the MLP's number of hidden layers
MLP_WIDTH = "mlp_width_"  # + a layer's number, from 1: its width
MLP_SHAPE = "model.hidden"  # the place both set
MLP_RULE = number(int, 1)
OWN_PARAMS = {"model": "model.params", "data": "data.params", "objective": "objective.params"}

# A factory's or an own loop's param takes any value its function accepts: the function is the judge of it.
ANY_VALUE = Rule(lambda: "any value", lambda value: value, ("float", "int", "categorical"))


def field_of(name: str) -> str:
    """The field or param a name sets within its place: `training.lr` -> `lr`, `width` -> `width`."""
    return name.rpartition(".")[2]


def mlp_layer(name: str) -> int | None:
    """`mlp_width_3` -> 3; None for any other name."""
    digits = name.removeprefix(MLP_WIDTH)
    return int(digits) if name.startswith(MLP_WIDTH) and digits.isdigit() and digits[0] != "0" else None


def _is_mlp(name: str) -> bool:
    return name == MLP_LAYERS or mlp_layer(name) is not None


def _bare_places(config: Config, name: str) -> list[str]:
    """Every place a bare name may mean in `config`."""
    if config.own_loop:  # the function trains: every name is one of its arguments, declared by the search
        return ["objective.params"]
    places = []
    section = SEARCHABLE.get(name)
    if section and (section != "model" or not config.model.factory):  # a factory's model has no built-in fields
        places.append(section)
    if _is_mlp(name) and not config.model.factory:
        places.append(MLP_SHAPE)
    places += [f"{s}.params" for s in ("model", "data") if name in getattr(config, s).params]
    return places


def _qualified_place(config: Config, section: str, name: str) -> str | None:
    """The place `section.name` means, or None: a factory's (or an own loop's) params take any name."""
    if config.own_loop:
        return "objective.params" if section == "objective" else None
    if section in ("model", "data") and getattr(config, section).factory:
        return OWN_PARAMS[section]
    if section == "model" and _is_mlp(name):
        return MLP_SHAPE
    return section if SEARCHABLE.get(name) == section else None


def place_of(config: Config, name: str, where: str = "") -> str:
    """Where the searched name `name` lives; a `UsageError` naming `where` when it names no field or several."""
    section, dot, bare = name.rpartition(".")
    where = where or f"search.{name}"
    if dot:
        place = _qualified_place(config, section, bare) if "." not in section else None
        if place is None:
            raise _not_searchable(config, where)
        return place
    places = _bare_places(config, name)
    if not places:
        raise _not_searchable(config, where)
    if len(places) > 1:
        options = " or ".join(sorted(qualified(place, name) for place in places))
        raise UsageError(f"{where} must name one field: write {options}; got {name!r}, which names each of them")
    return places[0]


def qualified(place: str, name: str) -> str:
    """The name as `section.field`: `training.lr`, `model.width` (a factory's), `model.mlp_layers`."""
    return f"{place.partition('.')[0]}.{field_of(name)}"


def searchable(config: Config) -> dict[str, str]:
    """Every name a search may use in `config` -> its place: the bare names that mean one field, each field as
    `section.field`, and the search's own names (a factory's param the search declares)."""
    if config.own_loop:  # the function trains: only its arguments act
        candidates = list(config.objective.params)
    else:
        candidates = [*SEARCHABLE, MLP_LAYERS, *(f"{MLP_WIDTH}{k}" for k in range(1, _deepest(config) + 1))]
        candidates += [*config.model.params, *config.data.params]
    out: dict[str, str] = {}
    for name in candidates:
        places = _bare_places(config, name)
        if len(places) == 1:
            out[name] = places[0]
        out.update({qualified(place, name): place for place in places})
    out.update({param.name: place_of(config, param.name) for param in config.search})
    return out


def _deepest(config: Config) -> int:
    """The most hidden layers the MLP can have in `config`: its own, or the most `mlp_layers` searches."""
    depths = [len(config.model.hidden)]
    for param in config.search:
        if param.name in (MLP_LAYERS, f"model.{MLP_LAYERS}"):
            depths += [int(v) for v in param.choices] if param.type == "categorical" else [int(param.high)]
    return max(depths)


def rule_of(place: str, name: str) -> Rule:
    """The rule a searched value must pass: its field's, any value for a function's param."""
    if place.endswith(".params"):
        return ANY_VALUE
    if place == MLP_SHAPE:
        return MLP_RULE
    return declared(f"{place}.{field_of(name)}").rule


def value_of(config: Config, name: str) -> Any:
    """The config's own value of what `name` sets (None for a param only the search declares)."""
    place = place_of(config, name)
    section, _, inner = place.partition(".")
    holder = getattr(config, section)
    if place == MLP_SHAPE:
        hidden = config.model.hidden
        return len(hidden) if field_of(name) == MLP_LAYERS else _width(hidden, mlp_layer(field_of(name)) or 1)
    return getattr(holder, inner).get(field_of(name)) if inner else getattr(holder, field_of(name))


def _width(hidden: tuple[int, ...], layer: int) -> int:
    """Layer `layer`'s width in `hidden`; a layer beyond it takes the last width (the default's without any)."""
    return hidden[min(layer, len(hidden)) - 1] if hidden else ModelConfig().hidden[-1]


def updates(config: Config, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A trial's params -> the new values of each section's fields (a factory's params as a new dict)."""
    out: dict[str, dict[str, Any]] = {}
    shape: dict[str, Any] = {}
    for name, value in params.items():
        place = place_of(config, name)
        section, _, inner = place.partition(".")
        if place == MLP_SHAPE:
            shape[field_of(name)] = value
        elif inner:
            merged = out.setdefault(section, {}).setdefault(inner, dict(getattr(config, section).params))
            merged[field_of(name)] = value
        else:
            out.setdefault(section, {})[field_of(name)] = value
    if shape:
        hidden = config.model.hidden
        depth = int(shape.get(MLP_LAYERS, len(hidden)))
        widths = tuple(int(shape.get(f"{MLP_WIDTH}{k}", _width(hidden, k))) for k in range(1, depth + 1))
        out.setdefault("model", {})["hidden"] = widths
    return out


def _not_searchable(config: Config, where: str) -> UsageError:
    if config.own_loop:
        return UsageError(
            f"{where} is not a searchable field; with objective.function a search varies the loop's params, "
            "each by its name or as objective.<name>"
        )
    known = searchable(config)
    names = ", ".join(sorted(name for name in known if "." not in name))
    suggestion = did_you_mean(where.removeprefix("search.").rpartition(".when.")[2], known)
    factories = [s for s in ("model", "data") if getattr(config, s).factory and not config.own_loop]
    hint = "; a factory's param without a default: " + " or ".join(f"{s}.<name>" for s in factories)
    return UsageError(f"{where} is not a searchable field; {suggestion}searchable: {names}{hint if factories else ''}")


def search_entry(config: Config, field: str) -> Any:
    """The search entry that varies `section.field` (`training.epochs`), whatever name it is written under
    (`epochs` or `training.epochs`); None when the field is not searched."""
    return next((p for p in config.search if f"{place_of(config, p.name)}.{field_of(p.name)}" == field), None)
