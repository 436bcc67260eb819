"""Model families by name: what each builds from a config and a data spec."""

from __future__ import annotations

import pytest
import torch

from optflow.config import Config, ModelConfig, TrainingConfig
from optflow.data import CLASSIFICATION, DataSpec
from optflow.models import MODELS, build_model

MLP = ModelConfig(kind="mlp", hidden=(32,))
SPEC = DataSpec(input_shape=(8,), n_outputs=3, task=CLASSIFICATION)


def mlp(dropout: float) -> torch.nn.Module:
    return MODELS["mlp"](MLP, SPEC, dropout)


def test_dropout_changes_outputs_in_train_mode_only():
    model = mlp(dropout=0.5)
    x = torch.randn(16, 8)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_no_dropout_layer_without_dropout():
    assert not any(isinstance(m, torch.nn.Dropout) for m in mlp(dropout=0.0))


IMAGE_SPEC = DataSpec(input_shape=(1, 8, 8), n_outputs=3, task=CLASSIFICATION)
TOKEN_SPEC = DataSpec(input_shape=(8,), n_outputs=3, task=CLASSIFICATION, vocab_size=20)
TAKES = {"cnn": (IMAGE_SPEC,), "transformer": (TOKEN_SPEC,)}  # the others take tables and images alike


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_family_maps_the_spec_to_its_outputs(kind):
    for spec in TAKES.get(kind, (SPEC, IMAGE_SPEC)):
        model = MODELS[kind](ModelConfig(kind=kind, hidden=(16, 8), d_model=16, n_heads=2), spec, 0.0)
        inputs = torch.randint(0, 20, (5, 8)) if spec.vocab_size else torch.randn(5, *spec.input_shape)
        assert model(inputs).shape == (5, 3)


def test_mlp_has_the_hidden_layers_and_activation_asked_for():
    model = MODELS["mlp"](ModelConfig(kind="mlp", hidden=(16, 8), activation="tanh"), SPEC, 0.0)
    widths = [layer.out_features for layer in model if isinstance(layer, torch.nn.Linear)]
    assert widths == [16, 8, 3]
    assert sum(isinstance(layer, torch.nn.Tanh) for layer in model) == 2


def test_build_model_is_seeded_by_the_training_seed():
    def weights(seed: int) -> torch.Tensor:
        return build_model(Config(model=MLP, training=TrainingConfig(seed=seed)), SPEC)[0].weight

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))
