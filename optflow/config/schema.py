"""The whole configuration, and a trial's view of it: which names a search may vary, a trial's config from its
sampled params, the resolved config a run replays.

Each field is declared once in `sections.py`; validation lives in `validation.py` (each field), `consistency.py`
(across fields) and `search.py`; this class only holds values that passed them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any

from optflow.config import names
from optflow.config.applies import applies
from optflow.config.search_param import SearchParam
from optflow.config.sections import (
    SECTIONS,
    DataConfig,
    ModelConfig,
    ObjectiveConfig,
    StudyConfig,
    TrainingConfig,
)
from optflow.urls import mask_password


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration."""

    study: StudyConfig = field(default_factory=StudyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    search: tuple[SearchParam, ...] = ()

    @property
    def own_loop(self) -> bool:
        """Whether the user's function trains (optflow then loads no data and builds no model)."""
        return bool(self.objective.function)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-ready) of the resolved configuration."""
        out: dict[str, Any] = {}
        for section in SECTIONS:
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        out["search"] = {p.name: p.to_dict() for p in self.search}
        return out

    def searchable(self) -> dict[str, str]:
        """Every name a search may use -> where it lives: built-in fields (`lr` -> training), also as
        `training.lr`; the MLP's shape (`mlp_layers` -> model.hidden); the factories' params (`width` ->
        model.params) and the names the search declares for them (`names.py` has the rules)."""
        return names.searchable(self)

    def value_of(self, name: str) -> Any:
        """The config's own value of what the searchable name `name` sets."""
        return names.value_of(self, name)

    def with_params(self, params: dict[str, Any]) -> Config:
        """This config with a trial's sampled params (`lr`, `training.lr`, `kind`, a factory's `width`, the MLP's
        `mlp_layers` and `mlp_width_1`...) set where they live."""
        updates = names.updates(self, params)
        return replace(self, **{section: replace(getattr(self, section), **u) for section, u in updates.items()})

    def applies(self, field: str) -> bool:
        """Whether `section.field` acts in this config (`applies.py` reads it from the declarations)."""
        return applies(self, field)

    def resolved(self) -> dict[str, Any]:
        """The config one training run used, YAML-ready, without the search and with the storage password
        masked: replay it with `optflow train --config`."""
        out = replace(self, search=()).to_dict()
        out["study"]["storage"] = mask_password(out["study"]["storage"])
        return out

    def acting(self) -> dict[str, Any]:
        """The resolved config with only the fields that act (`applies`): no `momentum` under adam, no CSV path
        for a bundled set, no model, data or training for an own loop."""
        sections = ("study", "objective") if self.own_loop else ("study", "data", "model", "training")
        resolved = self.resolved()
        return {s: {k: v for k, v in resolved[s].items() if self.applies(f"{s}.{k}")} for s in sections}

    def best_trial_yaml(self, number: int, value: float, params: dict[str, Any]) -> str:
        """The config of a study's best trial as a YAML file, with a header saying which it is: the fields that
        acted, its searched values in place (the MLP's chosen shape as `model.hidden`)."""
        import yaml

        header = f"# best trial {number} of study {self.study.name}: {self.study.metric} = {value}\n"
        return header + yaml.safe_dump(self.with_params(params).acting(), sort_keys=False)
