"""Loading: a YAML file plus overrides read as YAML, and the shipped configs."""

from __future__ import annotations

import pytest
from conftest import ROOT

from optflow.config import apply_overrides, load_config, parse_override
from optflow.errors import UsageError


def test_overrides_are_read_as_yaml():
    assert parse_override("training.lr=0.5") == ("training.lr", 0.5)
    assert parse_override("model.hidden=[64,32]") == ("model.hidden", [64, 32])
    raw = apply_overrides({"training": {"lr": 0.1}}, {"training.lr": 0.2, "search.lr.high": 1.0})
    assert raw == {"training": {"lr": 0.2}, "search": {"lr": {"high": 1.0}}}


def test_shipped_configs_are_valid():
    for name in ("digits", "diabetes"):
        config = load_config(ROOT / "configs" / f"{name}.yaml")
        assert config.search, name


def test_missing_config_file(tmp_path):
    with pytest.raises(UsageError, match="--config must be an existing YAML file"):
        load_config(tmp_path / "nope.yaml")
