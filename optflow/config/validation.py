"""A raw mapping (as read from YAML) -> a validated `Config`: each field's declared rule, checked once.

Every error is one line naming the field, what it accepts and what it got; checks across fields are in
`consistency.py`. Nothing else in optflow checks a config field again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from optflow.config.consistency import check_consistency, check_factories
from optflow.config.rules import Rule, did_you_mean
from optflow.config.schema import Config
from optflow.config.search import build_search
from optflow.config.sections import SECTIONS
from optflow.config.setting import settings
from optflow.errors import UsageError

# Each field's rule, as its declaration in `schema.py` gives it: section -> field -> rule.
RULES: dict[str, dict[str, Rule]] = {
    section: {name: s.rule for name, s in settings(cls).items()} for section, cls in SECTIONS.items()
}


def _build_section(section: str, raw: Any) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"{section} must be a mapping of fields; got {raw!r}")
    rules = RULES[section]
    unknown = sorted(set(raw) - set(rules))
    if unknown:
        raise UsageError(
            f"{section}.{unknown[0]} is not a known field; {did_you_mean(unknown[0], rules)}"
            f"known fields: {', '.join(sorted(rules))}"
        )
    values = {name: rules[name].check(f"{section}.{name}", value) for name, value in raw.items()}
    return SECTIONS[section](**values)


def expand_csv_shorthand(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data section with the shorthand (docs/guides/configuration.md) `{csv: a.csv, target: y}` written out
    as `{name: csv, path: a.csv, target: y}`; a `path` beside `csv` that names another file is refused, since
    one of the two would be dropped."""
    out = dict(data)
    if "csv" not in out:
        return out
    csv = out.pop("csv")
    if "path" in out and out["path"] != csv:
        raise UsageError(
            f"data.path must be left out or equal data.csv (its shorthand); got path={out['path']!r}, csv={csv!r}"
        )
    out.setdefault("name", "csv")
    out["path"] = csv
    return out


def build_config(raw: Mapping[str, Any]) -> Config:
    """Validate a raw nested mapping (as read from YAML) into a `Config`."""
    if not isinstance(raw, Mapping):
        raise UsageError(f"the config must be a mapping of sections; got {type(raw).__name__}")
    known = (*SECTIONS, "search")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UsageError(
            f"{unknown[0]} is not a known config section; {did_you_mean(unknown[0], known)}"
            f"known sections: {', '.join(known)}"
        )
    objective_raw = raw.get("objective")
    if isinstance(objective_raw, str):  # shorthand: `objective: my_pkg.train:run`
        objective_raw = {"function": objective_raw}
    data_raw = raw.get("data") or {}
    data_raw = expand_csv_shorthand(data_raw) if isinstance(data_raw, Mapping) else data_raw
    base = Config(
        study=_build_section("study", raw.get("study")),
        data=_build_section("data", data_raw),
        model=_build_section("model", raw.get("model")),
        training=_build_section("training", raw.get("training")),
        objective=_build_section("objective", objective_raw),
    )
    check_factories(base)
    config = replace(base, search=build_search(raw.get("search"), base))
    check_consistency(config)
    return config
