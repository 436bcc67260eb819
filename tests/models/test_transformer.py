"""The transformer family: causal for language modelling (no position sees the future), pooled for whole
sequences, its searchable fields visible in the network, and tables refused in one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optflow.config import build_config
from optflow.data import DataSpec
from optflow.errors import UsageError
from optflow.models import build_model

LM = DataSpec((12,), 30, "language_modeling", vocab_size=30)
SEQUENCES = DataSpec((12,), 3, "classification", vocab_size=50)


def transformer(spec: DataSpec = LM, **model) -> nn.Module:
    config = build_config({"model": {"kind": "transformer", "d_model": 16, "n_heads": 2, **model}})
    return build_model(config, spec).eval()


def test_a_language_model_never_looks_ahead():
    model = transformer()
    ids = torch.randint(0, 30, (4, 12))
    changed = ids.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 30  # only the future of position 6 changes
    with torch.no_grad():
        before, after = model(ids), model(changed)
    assert before.shape == (4, 12, 30)
    torch.testing.assert_close(before[:, :7], after[:, :7])
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_a_sequence_model_answers_once_per_sequence_from_every_position():
    model = transformer(SEQUENCES)
    ids = torch.randint(0, 50, (5, 12))
    changed = ids.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 50
    with torch.no_grad():
        assert model(ids).shape == (5, 3)
        assert not torch.allclose(model(ids), model(changed))  # not causal: the first token matters too


def test_the_searchable_fields_shape_the_network():
    model = transformer(d_model=24, n_heads=3, n_layers=3, d_ff=40)
    layers = model.encoder.layers
    assert len(layers) == 3 and layers[0].self_attn.num_heads == 3 and layers[0].linear1.out_features == 40
    assert model.tokens.embedding_dim == 24 and model.positions.num_embeddings == 12


def test_impossible_shapes_are_refused_in_one_line():
    with pytest.raises(UsageError, match=r"^model.d_model must be a multiple of model.n_heads \(3\); got 16$"):
        transformer(n_heads=3)
    with pytest.raises(UsageError, match=r"^model.kind transformer needs token sequences"):
        transformer(DataSpec((8,), 2, "classification"))
