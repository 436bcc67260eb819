"""A small transformer for token sequences: causal next-token prediction for language modelling, and a
mean-pooled head for classifying or regressing whole sequences. Pre-norm encoder layers (as GPT-2 and most
current models use), learned positions, GELU."""

from __future__ import annotations

import torch
from torch import nn

from optflow.config import ModelConfig
from optflow.data import LANGUAGE_MODELING, DataSpec
from optflow.errors import UsageError


class Transformer(nn.Module):
    """Token ids (batch, length) -> logits (batch, length, vocabulary) for language modelling, else
    (batch, outputs) from the mean over positions."""

    def __init__(self, config: ModelConfig, spec: DataSpec, dropout: float) -> None:
        super().__init__()
        if len(spec.input_shape) != 1 or not spec.vocab_size:
            raise UsageError(
                "model.kind transformer needs token sequences, such as data.name text or a data factory's integer "
                f"inputs; got inputs of shape {tuple(spec.input_shape)}"
            )
        if config.d_model % config.n_heads:
            raise UsageError(
                f"model.d_model must be a multiple of model.n_heads ({config.n_heads}); got {config.d_model}"
            )
        self.causal = spec.task == LANGUAGE_MODELING
        self.tokens = nn.Embedding(spec.vocab_size, config.d_model)
        self.positions = nn.Embedding(spec.input_shape[0], config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model, config.n_heads, config.d_ff, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, spec.n_outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        x = self.tokens(ids) + self.positions(torch.arange(length, device=ids.device))
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=ids.device) if self.causal else None
        x = self.norm(self.encoder(x, mask=mask, is_causal=self.causal))
        return self.head(x if self.causal else x.mean(dim=1))


def build(config: ModelConfig, spec: DataSpec, dropout: float) -> Transformer:
    return Transformer(config, spec, dropout)
