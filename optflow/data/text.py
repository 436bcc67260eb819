"""Text -> character-level language modelling: windows of `seq_len` characters, each predicting the next.

The corpus is a text file the user names (`data.path`), or by default a source file of Python's own standard
library (argparse.py), which every Python installation has, so nothing is downloaded. The text is split where
it stands, the first part for training and the last `val_fraction` for validation, so no window of the
validation text was trained on. The vocabulary is the corpus' characters; the logged model takes strings and
answers the most likely next character of each (or its probabilities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from optflow.config import DataConfig
from optflow.data.dataset import Dataset, looked_in
from optflow.data.preprocessing import LANGUAGE_MODELING
from optflow.errors import UsageError

DEFAULT_CORPUS = "argparse"  # a standard-library module whose source is the default corpus


def default_corpus() -> Path:
    """The source file of the standard library's argparse: present wherever Python is."""
    import importlib.util

    spec = importlib.util.find_spec(DEFAULT_CORPUS)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


@dataclass(frozen=True)
class TextPreprocessing:
    """Characters <-> token ids, for the logged model: strings in, next characters out."""

    vocabulary: str  # the characters, in token-id order
    seq_len: int  # the longest context the network was trained on
    task: str = LANGUAGE_MODELING

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.vocabulary)

    def ids(self, text: str) -> np.ndarray:
        """Token ids of the last `seq_len` characters of `text`; characters outside the vocabulary are refused."""
        index = {c: i for i, c in enumerate(self.vocabulary)}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(f"characters outside the model's vocabulary: {unknown[:5]}")
        return np.asarray([index[c] for c in text[-self.seq_len :]], dtype=np.int64)

    def predict(self, network: torch.nn.Module, rows: Any, probabilities: bool = False) -> Any:
        """The next character after each string (or a DataFrame of its probabilities, a column per character)."""
        texts = [str(t) for t in (rows.iloc[:, 0] if isinstance(rows, pd.DataFrame) else rows)]
        last = []
        with torch.no_grad():
            for text in texts:  # strings differ in length: one forward pass each, on exactly its characters
                logits = network(torch.from_numpy(self.ids(text))[None])[0, -1]
                last.append(torch.softmax(logits.double(), dim=-1).numpy())
        if probabilities:
            return pd.DataFrame(np.stack(last), columns=list(self.vocabulary))
        return np.asarray([self.vocabulary[int(p.argmax())] for p in last])


def load_text(config: DataConfig) -> Dataset:
    """The corpus as (windows, seq_len) token ids and the same windows shifted by one character."""
    path = Path(config.path) if config.path else default_corpus()
    if not path.is_file():
        raise UsageError(f"data.path must be a text file when data.name is text; got {config.path!r}{looked_in(path)}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        reason = f"{error.reason} at byte {error.start}"
        raise UsageError(f"data.path must be UTF-8 text; got {str(path)!r} ({reason})") from None
    if config.max_chars:
        text = text[: config.max_chars]
    vocabulary = "".join(sorted(set(text)))
    seq_len = config.seq_len
    cut = int(len(text) * (1 - config.val_fraction))
    train, val = _windows(text[:cut], vocabulary, seq_len), _windows(text[cut:], vocabulary, seq_len)
    if len(train[0]) < 2 or len(val[0]) < 1:
        need = math.ceil((seq_len + 1) / min(config.val_fraction, 1 - config.val_fraction))
        raise UsageError(
            f"data.path must hold enough text for windows of data.seq_len={seq_len} on both sides of the split "
            f"(at least {need} characters); got {len(text)} in {str(path)!r}"
        )
    preprocessing = TextPreprocessing(vocabulary, seq_len)
    examples = [text[cut + i * seq_len : cut + (i + 1) * seq_len] for i in range(min(5, len(val[0])))]
    return Dataset(
        name=config.name,
        task=LANGUAGE_MODELING,
        x_train=train[0],
        y_train=train[1],
        x_val=val[0],
        y_val=val[1],
        feature_names=(),
        n_outputs=len(vocabulary),
        source=str(path),
        preprocessing=preprocessing,
        raw_val=pd.DataFrame({"text": examples}),  # the logged model's input: a column of strings
        vocab_size=len(vocabulary),
    )


def _windows(text: str, vocabulary: str, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows of `seq_len` characters and, for each, the next `seq_len` characters."""
    index = np.full(max(map(ord, vocabulary)) + 1, -1, dtype=np.int64)
    index[[ord(c) for c in vocabulary]] = np.arange(len(vocabulary))
    ids = torch.from_numpy(index[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)])
    n = (len(ids) - 1) // seq_len
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1 : n * seq_len + 1].reshape(n, seq_len)
    return x, y
