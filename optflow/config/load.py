"""A YAML file plus overrides (`--set training.lr=0.1`, CLI flags, MLproject parameters) -> a validated `Config`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from optflow.config.schema import Config
from optflow.config.validation import build_config, expand_csv_shorthand
from optflow.errors import UsageError


def parse_override(assignment: str) -> tuple[str, Any]:
    """`training.lr=0.1` -> ("training.lr", 0.1), the value read as YAML (so numbers and lists work)."""
    key, sep, value = assignment.partition("=")
    if not sep or "." not in key:
        raise UsageError(f"--set must look like section.field=value; got {assignment!r}")
    try:
        return key.strip(), yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        raise UsageError(f"--set {key} has a value that is not valid YAML; got {value!r}") from None


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `raw` with dotted keys (`training.lr`, `search.lr.high`) set; the declaration order is kept.

    The `csv:` shorthand is written out as `path:` in the file and in the overrides before they meet, so that
    `--set data.path=b.csv` (or `data.csv=b.csv`) over a file's `csv: a.csv` is the file trained on."""
    out: dict[str, Any] = copy.deepcopy(dict(raw))
    if isinstance(out.get("data"), Mapping):
        out["data"] = expand_csv_shorthand(out["data"])
    overrides = dict(overrides)
    if "data.csv" in overrides:
        given = {k.removeprefix("data."): overrides.pop(k) for k in ("data.csv", "data.path") if k in overrides}
        overrides = {**{f"data.{k}": v for k, v in expand_csv_shorthand(given).items()}, **overrides}
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UsageError(f"{dotted} cannot be set: {part} is not a section")
            node = child
        node[leaf] = value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one silently, so
    a second `study:` block would replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice (line {line})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of sections a YAML config file holds (empty for an empty file)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--config must be an existing YAML file; got {str(path)!r}")
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None and "line" not in problem else ""
        raise UsageError(f"--config {path} is not valid YAML: {problem}{where}") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise UsageError(
            f"--config {path} must hold a mapping of sections (study, data, model, training, search); "
            f"got a {type(raw).__name__}"
        )
    return dict(raw)


def load_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a YAML config (or start from defaults), apply overrides, validate."""
    raw = read_yaml(path) if path else {}
    return build_config(apply_overrides(raw, overrides or {}))
