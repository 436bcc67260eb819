"""Typed, validated configuration: YAML + overrides -> frozen dataclasses, every error naming its field."""

from optflow.config.load import apply_overrides, load_config, parse_override
from optflow.config.schema import Config
from optflow.config.search_param import SearchParam
from optflow.config.sections import (
    SEARCHABLE,
    SECTIONS,
    DataConfig,
    ModelConfig,
    StudyConfig,
    TrainingConfig,
)
from optflow.config.validation import RULES, build_config

__all__ = [
    "RULES",
    "SEARCHABLE",
    "SECTIONS",
    "Config",
    "DataConfig",
    "ModelConfig",
    "SearchParam",
    "StudyConfig",
    "TrainingConfig",
    "apply_overrides",
    "build_config",
    "load_config",
    "parse_override",
]
