"""The names users choose by (optimisers, schedules, model kinds, data sets) and the config fields each reads.

This is each name's declaration; its implementation is the registry of the same name in `training/optim.py`,
`training/schedules.py`, `models/__init__.py` and `data/__init__.py` (a test holds the keys equal). The config
validates names against these tables and derives from `reads` which fields act (`applies.py`: `momentum` only
under an optimiser that reads it), without importing torch. Adding an optimiser: an entry here, one there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """One name a field may take: what it is, and the fields that act only under the names that read them."""

    help: str
    reads: tuple[str, ...] = ()  # `section.field`s


Choices = Mapping[str, Choice]

_SGD = ("training.batch_size", "training.l2")
OPTIMIZERS: Choices = {
    "gd": Choice("full-batch gradient descent: one step per epoch over the whole training set", ("training.l2",)),
    "sgd": Choice("stochastic gradient descent on batches of batch_size rows", _SGD),
    "momentum": Choice("SGD with momentum", (*_SGD, "training.momentum")),
    "nesterov": Choice("SGD with Nesterov momentum", (*_SGD, "training.momentum")),
    "adam": Choice("Adam (Kingma & Ba 2015); l2 as its weight decay", _SGD),
    "adamw": Choice(
        "AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019)",
        ("training.batch_size", "training.weight_decay"),
    ),
}

_DECAY = "training.schedule_interval"  # what t counts, for every schedule that changes the rate
SCHEDULES: Choices = {
    "constant": Choice("lr throughout"),
    "exponential": Choice("lr·γ^t", (_DECAY, "training.gamma")),
    "step": Choice("lr·γ^floor(t/step_size)", (_DECAY, "training.gamma", "training.step_size")),
    "inverse_time": Choice("lr/(1+k·t), k = decay_rate", (_DECAY, "training.decay_rate")),
    "cosine": Choice("cosine annealing from lr to min_lr over the run", (_DECAY, "training.min_lr")),
}

_CNN = ("model.channels", "model.conv_layers", "model.kernel_size", "model.batch_norm", "model.pooling")
_TRANSFORMER = ("model.d_model", "model.n_heads", "model.n_layers", "model.d_ff")
MODELS: Choices = {
    "linear": Choice("one linear layer: logistic or linear regression"),
    "mlp": Choice("multilayer perceptron", ("model.hidden", "model.activation", "training.dropout")),
    "cnn": Choice(
        "convolutional network, for images (data.name digits_images or image_folder)",
        (*_CNN, "model.activation", "training.dropout"),
    ),
    "transformer": Choice(
        "transformer encoder, for token sequences (data.name text)", (*_TRANSFORMER, "training.dropout")
    ),
}

_SYNTHETIC = ("data.n_samples", "data.n_features", "data.noise")
DATASETS: Choices = {
    "digits": Choice("scikit-learn's 8x8 handwritten digits as 64 columns (classification)"),
    "iris": Choice("scikit-learn's iris (classification)"),
    "wine": Choice("scikit-learn's wine (classification)"),
    "breast_cancer": Choice("scikit-learn's breast cancer (classification)"),
    "diabetes": Choice("scikit-learn's diabetes (regression)"),
    "classification": Choice("synthetic classes (scikit-learn's make_classification)", (*_SYNTHETIC, "data.n_classes")),
    "regression": Choice("synthetic regression (scikit-learn's make_regression)", _SYNTHETIC),
    "csv": Choice("a CSV file: path and its target column", ("data.path", "data.target")),
    "digits_images": Choice("the digits as 1x8x8 images, for model.kind cnn"),
    "image_folder": Choice("a folder with one sub-folder of images per class", ("data.path", "data.image_size")),
    "text": Choice(
        "a text file for character-level language modelling (default: Python's argparse source)",
        ("data.path", "data.seq_len", "data.max_chars"),
    ),
}
