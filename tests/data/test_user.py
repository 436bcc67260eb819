"""A data factory's splits: torch Datasets say their number of classes themselves, as torchvision's do."""

from __future__ import annotations

import sys
import textwrap

import pytest

from optflow.data.user import load_user_data
from optflow.errors import UsageError

MODULE = "user_sets"
CODE = """
import torch
import optflow


class Labelled(torch.utils.data.Dataset):
    '''Rows whose first 100 labels are 0 and 1 only: the sample optflow reads up front misses class 2.'''

    def __init__(self, n, classes=None, targets=True):
        self.x = torch.randn(n, 4)
        labels = torch.cat([torch.arange(100) % 2, torch.full((n - 100,), 2)])
        if classes is not None:
            self.classes = classes
        if targets:
            self.targets = labels.tolist()
        self.labels = labels

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.labels[i]


def with_classes(params):
    rows = Labelled(150, classes=["zero", "one", "two", "unused"], targets=False)
    return optflow.DataSplits(train=rows, val=rows, task="classification")


def with_targets(params):
    rows = Labelled(150)
    subset = torch.utils.data.Subset(rows, range(120))
    return optflow.DataSplits(train=subset, val=torch.utils.data.Subset(rows, range(120, 150)), task="classification")


def saying_nothing(params):
    rows = Labelled(150, targets=False)
    return optflow.DataSplits(train=rows, val=rows, task="classification")
"""


@pytest.fixture
def module(tmp_path, monkeypatch):
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(CODE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield MODULE
    sys.modules.pop(MODULE, None)


def test_torch_datasets_give_their_classes(module):
    assert load_user_data(f"{module}:with_classes", {}).n_outputs == 4  # torchvision's `classes`


def test_torch_datasets_give_their_targets_through_a_subset(module):
    assert load_user_data(f"{module}:with_targets", {}).n_outputs == 3  # the whole set's labels, not the sample's


def test_torch_datasets_that_say_nothing_need_n_outputs(module):
    with pytest.raises(UsageError, match=r"^data.factory must return n_outputs \(the number of classes\) with torch "):
        load_user_data(f"{module}:saying_nothing", {})
