"""What a config value may be: small rules that convert a value or say, in one shape, what was expected.

Follows scikit-learn's `_parameter_constraints`: every message reads ``training.lr must be a float in (0, inf);
got -1``. Names that come from registries (optimizers, schedules, samplers, models, data sets) are looked up
when first needed, so that importing the config pulls in neither torch nor optuna.
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from optflow.config.objectives import parse_constraint, parse_goal
from optflow.config.references import is_reference
from optflow.contract import METRICS_MAXIMIZED, METRICS_MINIMIZED
from optflow.errors import UsageError

KNOWN_METRICS = (*METRICS_MINIMIZED, *METRICS_MAXIMIZED)


@dataclass(frozen=True)
class Rule:
    """What a field accepts: a description for messages and a function that converts or raises."""

    describe: Callable[[], str]
    convert: Callable[[Any], Any]  # returns the converted value, or raises ValueError/TypeError
    search_types: tuple[str, ...] = ("categorical",)  # the search entry types whose values fit the field
    invalid: Any = None  # a value the rule refuses, for the tests that feed every field a bad one

    def check(self, where: str, value: Any) -> Any:
        """The converted value, or a `UsageError` naming `where`, what it must be and what it got."""
        try:
            return self.convert(value)
        except (TypeError, ValueError):
            raise UsageError(f"{where} must be {self.describe()}; got {value!r}") from None


SUGGEST_CUTOFF = 0.6  # difflib's default: `epoch` finds `epochs`, `lr` does not find `l1` and `l2` at once


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """`did you mean 'epochs'? ` when a known name is close to `given` (difflib's ratio), else an empty string."""
    close = difflib.get_close_matches(str(given), [str(name) for name in known], n=1, cutoff=SUGGEST_CUTOFF)
    return f"did you mean {close[0]!r}? " if close else ""


def _interval(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def number(kind: type, low: float | None = None, high: float | None = None, closed: str = "both") -> Rule:
    """A float or int within an interval (`closed` is one of both, left, right, neither)."""

    def convert(value: Any) -> Any:
        if kind is float and isinstance(value, str):
            value = float(value)  # YAML 1.1 reads `1e-4` (no dot) as a string: take the number the user wrote
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            value = int(value)
        else:
            value = float(value)
        if not math.isfinite(value):
            raise ValueError
        if low is not None and (value < low or (value == low and closed in ("right", "neither"))):
            raise ValueError
        if high is not None and (value > high or (value == high and closed in ("left", "neither"))):
            raise ValueError
        return value

    name = "an int" if kind is int else "a float"
    types = ("int", "categorical") if kind is int else ("float", "int", "categorical")
    invalid = "many" if low is None else low - 1
    return Rule(lambda: f"{name} in {_interval(low, high, closed)}", convert, types, invalid)


def one_of(names: Callable[[], Iterable[str]]) -> Rule:
    """One of the names a registry knows (looked up when first needed)."""

    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in set(names()):
            raise ValueError
        return value

    return Rule(lambda: "one of " + ", ".join(sorted(names())), convert, invalid="no-such-name")


def text(allow_empty: bool = False) -> Rule:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise ValueError
        return value

    return Rule(
        lambda: "a non-empty string" if not allow_empty else "a string", convert, invalid=[] if allow_empty else ""
    )


def boolean() -> Rule:
    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            raise TypeError
        return value

    return Rule(lambda: "true or false", convert, ("categorical",), "yes")


def registry(module: str, attr: str) -> Callable[[], Iterable[str]]:
    """The keys of the registry `module.attr`, imported on first use."""
    return lambda: getattr(importlib.import_module(module), attr).keys()


def constant(*names: str) -> Callable[[], Iterable[str]]:
    return lambda: names


# The rules of more than one field, or of one field whose values need their own function.


def _batch_size(value: Any) -> int | str:
    if value == "full":
        return "full"
    return number(int, 1).convert(value)


BATCH_SIZE = Rule(lambda: "an int in [1, inf) or 'full'", _batch_size, ("int", "categorical"), 0)


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        raise TypeError
    return tuple(number(int, 1).convert(v) for v in value)


HIDDEN_SIZES = Rule(lambda: "a list of ints in [1, inf)", _hidden_sizes, invalid=[0])


def _odd(value: Any) -> int:
    value = number(int, 1).convert(value)
    if value % 2 == 0:
        raise ValueError
    return value


ODD = Rule(lambda: "an odd int in [1, inf)", _odd, ("int", "categorical"), 2)


def _reference(value: Any) -> str:
    if not isinstance(value, str) or (value and not is_reference(value)):
        raise ValueError
    return value


REFERENCE = Rule(lambda: "an import path like my_package.module:function, or empty", _reference, invalid="no dots")


def _metric(value: Any) -> str:
    if not isinstance(value, str) or not value.replace(".", "_").replace("/", "_").isidentifier():
        raise ValueError
    return value


# Any metric name may pass here (an own loop reports its own); `check_consistency` holds optflow's trainer to the
# metrics it reports.
METRIC = Rule(
    lambda: "one of " + ", ".join(sorted(KNOWN_METRICS)) + " (or a metric your objective reports)", _metric, invalid=""
)


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k.isidentifier() for k in value):
        raise TypeError
    return dict(value)


PARAMS = Rule(lambda: "a mapping of argument names to values", _params, invalid=[1])


def _references(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and is_reference(v) for v in value):
        raise ValueError
    return tuple(value)


REFERENCES = Rule(lambda: "a list of import paths like my_package.metrics:f1", _references, invalid=[1])


def _texts(parse: Callable[[str], Any]) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise TypeError
        for entry in value:
            parse(entry)
        return tuple(entry.strip() for entry in value)

    return convert


OBJECTIVES = Rule(
    lambda: "a list of metric names (val_*, train_seconds, n_params), each optionally :minimize or :maximize",
    _texts(parse_goal),
    invalid=["n_params:smaller"],
)
CONSTRAINTS = Rule(
    lambda: "a list of bounds like 'n_params <= 20000' or 'val_accuracy >= 0.9'",
    _texts(parse_constraint),
    invalid=["n_params < 3"],
)
