"""Character-level text: windows predicting the next character, validation from the end of the text, the
standard library's own source as the default corpus, and clear refusals."""

from __future__ import annotations

import argparse
import math

import pytest
import torch

from optflow.config import build_config
from optflow.data import load_dataset
from optflow.errors import UsageError


def text_data(**data):
    return load_dataset(build_config({"data": {"name": "text", **data}}).data)


def test_the_default_corpus_is_the_standard_librarys_argparse_source():
    data = text_data(seq_len=32, max_chars=5000)
    assert data.source == argparse.__file__ and data.task == "language_modeling"
    assert data.x_train.shape[1:] == (32,) and data.x_train.dtype == torch.int64
    assert data.spec.vocab_size == data.n_outputs == len(data.preprocessing.vocabulary)


def test_each_window_predicts_its_next_characters_and_validation_comes_last(tmp_path):
    path = tmp_path / "corpus.txt"
    text = "".join(chr(97 + (i * 7) % 26) for i in range(1000))
    path.write_text(text)
    data = text_data(path=str(path), seq_len=10, val_fraction=0.2)
    vocabulary = data.preprocessing.vocabulary
    decode = lambda ids: "".join(vocabulary[i] for i in ids.tolist())  # noqa: E731
    assert decode(data.x_train[0]) == text[:10] and decode(data.y_train[0]) == text[1:11]
    assert decode(data.x_val[0]) == text[800:810]  # the last fifth, never trained on
    assert len(data.x_train) == 79 and len(data.x_val) == 19


def test_too_little_text_and_binary_files_are_refused(tmp_path):
    (tmp_path / "short.txt").write_text("tiny")
    with pytest.raises(UsageError, match=r"^data.path must hold enough text for windows of data.seq_len=64"):
        text_data(path=str(tmp_path / "short.txt"))
    (tmp_path / "bytes.bin").write_bytes(bytes(range(128, 256)) * 10)
    with pytest.raises(UsageError, match=r"^data.path must be UTF-8 text; got "):
        text_data(path=str(tmp_path / "bytes.bin"))


def test_a_transformer_learns_characters_and_reports_bits_per_character():
    from optflow.models import build_model
    from optflow.training import fit

    config = build_config(
        {
            "data": {"name": "text", "seq_len": 32, "max_chars": 20000},
            "model": {"kind": "transformer", "d_model": 32, "n_heads": 2},
            "training": {"epochs": 4, "optimizer": "adam", "lr": 0.003, "batch_size": 32},
        }
    )
    data = load_dataset(config.data)
    records = list(fit(build_model(config, data.spec), data, config.training))
    assert all(math.isclose(r.val_bpc, r.val_loss / math.log(2)) for r in records)
    assert records[-1].val_bpc < records[0].val_bpc < math.log2(data.n_outputs)  # better than uniform, improving
