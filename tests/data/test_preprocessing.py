"""Raw rows to the network's inputs: a text value the model never saw is encoded as nothing, and said so."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from optflow.data.preprocessing import fit_table


def _fitted():
    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "colour": ["red", "blue", "red", "blue"]})
    return fit_table(frame, [0, 1, 2, 3], "classification", np.array([0, 1, 0, 1]))


def test_a_category_never_seen_in_training_is_warned_of_once_per_call_with_its_column_and_values():
    rows = pd.DataFrame({"size": [1.0, 2.0, 3.0], "colour": ["green", "red", "purple"]})
    with pytest.warns(UserWarning, match=r"colour.*\['green', 'purple'\]") as caught:
        inputs = _fitted().encode(rows)
    assert len([w for w in caught if "colour" in str(w.message)]) == 1
    assert inputs.shape == (3, 3)


def test_known_categories_encode_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fitted().encode(pd.DataFrame({"size": [1.0], "colour": ["blue"]}))
