"""Every config field declared once, completely: the checks scikit-learn's `validate_parameter_constraints` makes
of its estimators, and the views derived from the declarations (the registries' names, `applies`, the
reference) held to them."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import ROOT

from optflow.config import SEARCHABLE, SECTIONS, build_config
from optflow.config.applies import applies
from optflow.config.choices import DATASETS, MODELS, OPTIMIZERS, SCHEDULES
from optflow.config.reference import COMMAND, reference
from optflow.config.setting import METADATA_KEY, Setting, settings

FIELDS = [(section, field) for section, cls in SECTIONS.items() for field in dataclasses.fields(cls)]
IDS = [f"{section}.{field.name}" for section, field in FIELDS]
REFERENCE = ROOT / "docs" / "reference" / "configuration.md"


def _default(field: dataclasses.Field):
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


@pytest.mark.parametrize("section,field", FIELDS, ids=IDS)
def test_every_field_is_declared_with_a_rule_help_and_a_valid_default(section, field):
    declared = field.metadata.get(METADATA_KEY)
    assert isinstance(declared, Setting), f"{section}.{field.name} is not declared with setting()"
    assert declared.help.strip() and "\n" not in declared.help, "help is one line"
    assert field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    default = _default(field)
    assert declared.rule.check(f"{section}.{field.name}", default) == default  # the default passes its own rule
    with pytest.raises(Exception, match=f"^{section}.{field.name} must be "):  # the rule's bad value is refused
        declared.rule.check(f"{section}.{field.name}", declared.rule.invalid)


@pytest.mark.parametrize("name,section", sorted(SEARCHABLE.items()))
def test_every_searchable_field_can_be_searched_by_some_entry_type(name, section):
    assert settings(SECTIONS[section])[name].rule.search_types


@pytest.mark.parametrize(
    "declared,registry",
    [
        (OPTIMIZERS, ("optflow.training.optim", "OPTIMIZERS")),
        (SCHEDULES, ("optflow.training.schedules", "SCHEDULES")),
        (MODELS, ("optflow.models", "MODELS")),
        (DATASETS, ("optflow.data", "DATASETS")),
    ],
    ids=["optimizers", "schedules", "models", "datasets"],
)
def test_every_declared_name_has_its_implementation_and_reads_declared_fields(declared, registry):
    import importlib

    implemented = getattr(importlib.import_module(registry[0]), registry[1])
    assert sorted(declared) == sorted(implemented), f"{registry[0]}.{registry[1]} and optflow/config/choices.py"
    for name, choice in declared.items():
        assert choice.help, name
        for field in choice.reads:
            section, _, inner = field.partition(".")
            assert inner in settings(SECTIONS[section]), f"{name} reads {field}, which is no field"


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_field_acts_exactly_under_the_names_that_read_it(optimizer):
    config = build_config({"training": {"optimizer": optimizer}})
    for field in ("training.momentum", "training.l2", "training.weight_decay", "training.batch_size"):
        assert applies(config, field) == (field in OPTIMIZERS[optimizer].reads), field


def test_a_field_read_by_a_model_kind_acts_only_while_the_kind_does():
    mlp = build_config({"model": {"kind": "mlp"}})
    assert applies(mlp, "model.hidden") and applies(mlp, "training.dropout")
    assert not applies(mlp, "model.channels")
    factory = dataclasses.replace(mlp, model=dataclasses.replace(mlp.model, factory="pkg.models:build"))
    assert not applies(factory, "model.hidden") and not applies(factory, "training.dropout")
    assert applies(factory, "model.params.width")  # a factory's param, declared by no one, acts


def test_the_reference_has_every_field_and_says_when_it_acts():
    text = reference()
    for id_ in IDS:
        assert f"### {id_}\n" in text, id_
    assert "- acts when: `training.optimizer` is momentum or nesterov\n" in text
    assert "- acts when: `data.factory` is empty and `data.name` is csv, image_folder or text\n" in text
    for name in DATASETS:  # every registry name, with its description
        assert f"    - `{name}`: {DATASETS[name].help}" in text


def test_the_committed_reference_is_the_generated_one():
    assert REFERENCE.read_text() == reference(), f"docs/reference/configuration.md is stale: run {COMMAND}"
