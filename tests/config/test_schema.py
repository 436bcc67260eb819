"""The config's shape: a trial's config from sampled params, the resolved config, a round trip."""

from __future__ import annotations

from optflow.config import build_config

RAW = {
    "study": {"storage": "postgresql://bob:hunter2@db/optflow", "metric": "val_accuracy"},
    "model": {"kind": "mlp", "hidden": [32, 16]},
    "training": {"lr": 0.1},
    "search": {"lr": {"type": "float", "low": 0.001, "high": 1.0, "log": True}},
}


def test_with_params_sets_each_sampled_field_in_its_section():
    config = build_config(RAW).with_params({"lr": 0.01, "kind": "linear", "dropout": 0.2})
    assert (config.training.lr, config.training.dropout, config.model.kind) == (0.01, 0.2, "linear")
    assert config.model.hidden == (32, 16) and config.search  # the rest as it was


def test_the_resolved_config_replays_without_search_or_password():
    resolved = build_config(RAW).resolved()
    assert resolved["search"] == {} and resolved["study"]["storage"] == "postgresql://bob:***@db/optflow"
    assert build_config(resolved).training.lr == 0.1  # `optflow train --config` takes it back


def test_to_dict_round_trips():
    config = build_config(RAW)
    assert build_config(config.to_dict()) == config
