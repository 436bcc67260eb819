"""How a config field is declared: once, as dataclass field metadata holding its rule, help, whether a search may
vary it and when it acts.

Validation (`validation.py`), which fields act (`applies.py`), the searchable set, the CLI's flag help and the
configuration reference (`reference.py`) are all read from these declarations, as scikit-learn validates every
estimator from its `_parameter_constraints`, so that a field cannot be documented, validated and searched
differently in different places.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optflow.config.choices import Choices
from optflow.config.rules import Rule, constant, one_of

METADATA_KEY = "optflow"  # where a dataclass field keeps its `Setting`


@dataclass(frozen=True)
class When:
    """A condition on other fields under which a field acts, with the words the reference shows for it."""

    text: str
    test: Callable[[Any], bool]  # the whole `Config` -> whether the condition holds

    def __and__(self, other: When) -> When:
        return When(f"{self.text} and {other.text}", lambda config: self.test(config) and other.test(config))


def value(config: Any, dotted: str) -> Any:
    """The value of `section.field` in a `Config`."""
    section, name = dotted.split(".")
    return getattr(getattr(config, section), name)


def is_set(dotted: str) -> When:
    return When(f"`{dotted}` is set", lambda config: bool(value(config, dotted)))


def is_empty(dotted: str) -> When:
    return When(f"`{dotted}` is empty", lambda config: not value(config, dotted))


def equals(dotted: str, expected: Any) -> When:
    return When(f"`{dotted}` is {expected}", lambda config: value(config, dotted) == expected)


def differs(dotted: str, unexpected: Any) -> When:
    return When(f"`{dotted}` is not {unexpected}", lambda config: value(config, dotted) != unexpected)


def above(dotted: str, bound: float) -> When:
    return When(f"`{dotted}` > {bound}", lambda config: value(config, dotted) > bound)


@dataclass(frozen=True)
class Setting:
    """What one config field is, besides its name, type and default (which the dataclass holds)."""

    rule: Rule  # what it accepts, and the words of its error message
    help: str  # one line: what it does, why one would change it
    searchable: bool = False  # whether a search may vary it per trial
    applies: When | None = None  # when it acts (None: always, unless a choice below governs it)
    choices: Choices | None = None  # for a field chosen by name: each name and the fields it reads


def setting(default: Any, rule: Rule, help: str, *, searchable: bool = False, applies: When | None = None) -> Any:
    """A dataclass field declared with its `Setting`: `lr: float = setting(0.05, number(...), "...")`."""
    metadata = {METADATA_KEY: Setting(rule, help, searchable, applies)}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def choice(default: str, choices: Choices, help: str, *, searchable: bool = False, applies: When | None = None) -> Any:
    """A field that takes one of the names of `choices`, each of which says which other fields it reads."""
    metadata = {METADATA_KEY: Setting(one_of(constant(*choices)), help, searchable, applies, choices)}
    return dataclasses.field(default=default, metadata=metadata)


def settings(section: type) -> dict[str, Setting]:
    """Every field of a section's dataclass -> its declaration, in declaration order."""
    return {f.name: f.metadata[METADATA_KEY] for f in dataclasses.fields(section)}
