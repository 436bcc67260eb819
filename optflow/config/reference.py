"""The configuration reference, generated from the field declarations: `python -m optflow.config.reference`.

Every section and field with its type, default, allowed values (the words its error message uses, so a
registry's names appear as the registry has them), whether a search may vary it, when it acts and its help.
`docs/reference/configuration.md` holds the output; a test fails when the two differ.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from optflow.config import names
from optflow.config.applies import conditions
from optflow.config.sections import SECTIONS
from optflow.config.setting import METADATA_KEY, Setting

COMMAND = "python -m optflow.config.reference > docs/reference/configuration.md"

HEADER = f"""# Configuration reference

<!-- Generated from the field declarations in optflow/config/schema.py by `{COMMAND}`; do not edit. -->

A config is a YAML file with the sections below (and `search`); every field has a default. On the command line,
`--set section.field=value` sets any field. A field marked *searchable* may be varied per trial by an entry of
`search` named after it; a field acts only where *acts when* says (elsewhere it is left out of the trial's
MLflow params).
"""


def _type(annotation: Any) -> str:
    """A dataclass annotation in the words of YAML: `tuple[int, ...]` -> list of int."""
    words = str(annotation)
    words = re.sub(r"tuple\[(\w+), \.\.\.\]", r"list of \1", words)
    return words.replace("dict[str, Any]", "mapping").replace(" | ", " or ")


def _default(field: dataclasses.Field) -> str:
    value = field.default_factory() if field.default is dataclasses.MISSING else field.default
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _field(section: str, field: dataclasses.Field) -> list[str]:
    declared: Setting = field.metadata[METADATA_KEY]
    acts = " and ".join(condition.text for condition in conditions(f"{section}.{field.name}")) or "always"
    facts = f"{_type(field.type)} · default {_default(field)}" + (" · searchable" if declared.searchable else "")
    lines = [
        f"### {section}.{field.name}",
        "",
        declared.help,
        "",
        f"- {facts}",
        f"- allowed: {declared.rule.describe()}",
        f"- acts when: {acts}",
    ]
    if declared.choices:
        lines.append("- names:")
    for name, entry in (declared.choices or {}).items():
        reads = f" · reads {', '.join(f'`{f}`' for f in entry.reads)}" if entry.reads else ""
        lines.append(f"    - `{name}`: {entry.help}{reads}")
    return [*lines, ""]


def _search() -> list[str]:
    """What a search entry may be named: the rules of `names.py`."""
    width = f"{names.MLP_WIDTH}<k>"
    return [
        "## search",
        "",
        "Each entry of `search` is named after what it varies, and that name is the trial's Optuna param name:",
        "",
        "- a field marked *searchable* above, by its name (`lr`) or as `section.field` (`training.lr`); a bare name "
        "that two places have (a data factory's `seed` and `training.seed`) must be written with its section;",
        "- a param of `model.factory` or `data.factory` as `model.<name>` or `data.<name>`, with or without a value "
        "in the factory's `params` (the search declares it); bare, `<name>`, where `params` gives it a value and "
        "nothing else has its name;",
        "- a param of `objective.function`, your own loop, by its name or as `objective.<name>`; it needs no value in "
        "`objective.params` either;",
        f"- the MLP's shape: `{names.MLP_LAYERS}`, its number of hidden layers, and `{width}` for k = 1, 2, ..., "
        f"the width of layer k (each {names.MLP_RULE.describe()}). They set `model.hidden`; `{width}` is drawn only "
        f"while `{names.MLP_LAYERS}` reaches layer k, and a layer beyond the fixed `model.hidden` takes its last "
        "width.",
        "",
        "An entry holds `type` (float, int, categorical), `low`/`high`/`log`/`step` or `choices`, `grid` or "
        "`n_points` for the grid sampler, and `when`, a condition on other fields.",
        "",
    ]


def reference() -> str:
    """The configuration reference as Markdown."""
    lines = [HEADER]
    for section, cls in SECTIONS.items():
        lines += [f"## {section}", "", cls.__doc__.strip(), ""]
        for field in dataclasses.fields(cls):
            lines += _field(section, field)
    return "\n".join([*lines, *_search()]).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
