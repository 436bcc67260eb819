"""A YAML file plus overrides (`--set training.lr=0.1`, CLI flags, MLproject parameters) -> a validated `Config`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from optflow.config.schema import Config
from optflow.config.validation import build_config
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
    """A copy of `raw` with dotted keys (`training.lr`, `search.lr.high`) set."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(raw))) or {}
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


def load_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a YAML config (or start from defaults), apply overrides, validate."""
    raw: Any = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"--config must be an existing YAML file; got {str(path)!r}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            first = str(error).splitlines()[0]
            raise UsageError(f"--config {path} is not valid YAML: {first}") from None
    return build_config(apply_overrides(raw, overrides or {}))
