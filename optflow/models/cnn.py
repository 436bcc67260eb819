"""A small convolutional net for image tensors (channels, height, width): blocks of convolution, batch norm,
activation and pooling, then global average pooling and a linear head."""

from __future__ import annotations

from torch import nn

from optflow.config import ModelConfig
from optflow.data import DataSpec
from optflow.errors import UsageError
from optflow.models.mlp import ACTIVATIONS

POOLING = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def build(config: ModelConfig, spec: DataSpec, dropout: float) -> nn.Sequential:
    """`conv_layers` blocks, the first with `channels` outputs and each further one twice as many; pooling
    halves the image after each block while it is at least 2 pixels wide; dropout before the head."""
    if len(spec.input_shape) != 3:
        raise UsageError(
            f"model.kind cnn needs images (channels, height, width), such as data.name digits_images or "
            f"image_folder; got inputs of shape {tuple(spec.input_shape)}"
        )
    in_channels, height, width = spec.input_shape
    layers: list[nn.Module] = []
    for block in range(config.conv_layers):
        out_channels = config.channels * 2**block
        # batch norm's shift makes a convolution's bias redundant
        padding = config.kernel_size // 2
        layers.append(
            nn.Conv2d(in_channels, out_channels, config.kernel_size, padding=padding, bias=not config.batch_norm)
        )
        if config.batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(ACTIVATIONS[config.activation]())
        if config.pooling != "none" and min(height, width) >= 2:
            layers.append(POOLING[config.pooling](2))
            height, width = height // 2, width // 2
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(in_channels, spec.n_outputs))
    return nn.Sequential(*layers)
